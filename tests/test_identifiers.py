"""The shared get/serialize/deserialize helper, through a toy family and every real one."""
import threading

import numpy as np
import pytest

import minidl as mdl
from minidl.identifiers import (
    Family,
    custom_object_scope,
    dtype_name,
    from_keras_value,
    normalize_name,
    snake_case,
)


class Base:
    def get_config(self):
        return {}


class GoodThing(Base):
    def __init__(self, size=1):
        self.size = size

    def get_config(self):
        return {"size": self.size}


def helper(x):
    return x


@pytest.fixture
def family():
    fam = Family("thing", module="keras.things", base=Base)
    fam.register(GoodThing, "good")
    fam.register(helper)
    return fam


@pytest.mark.parametrize("name", ["GoodThing", "good_thing", "goodthing", "GOOD_THING",
                                  "good"])
def test_strings_match_ignoring_case_and_underscores(family, name):
    thing = family.get(name)
    assert isinstance(thing, GoodThing) and thing.size == 1


def test_every_identifier_form(family):
    assert family.get(None) is None
    assert family.get({"class_name": "GoodThing", "config": {"size": 3}}).size == 3
    keras3 = {"module": "keras.things", "class_name": "GoodThing", "config": {"size": 4},
              "registered_name": None}
    assert family.get(keras3).size == 4
    instance = GoodThing(5)
    assert family.get(instance) is instance
    assert family.get(GoodThing).size == 1               # a class is instantiated
    assert family.get("helper") is helper                # functions are returned as is
    assert family.get({"class_name": "function", "config": "helper"}) is helper

    def other(x):
        return x
    assert family.get(other) is other


def test_serialize_deserialize(family):
    data = family.serialize(GoodThing(7))
    assert data == {"module": "keras.things", "class_name": "GoodThing",
                    "config": {"size": 7}, "registered_name": None}
    assert family.deserialize(data).size == 7
    assert family.serialize(helper) == "helper" and family.serialize(None) is None
    assert family.deserialize("good").size == 1


def test_custom_objects(family):
    class Custom(Base):
        def __init__(self, flag=False):
            self.flag = flag

        def get_config(self):
            return {"flag": self.flag}

    data = family.serialize(Custom(True))
    assert data["registered_name"] == "Custom" and data["module"] == __name__
    with pytest.raises(ValueError, match="Unknown thing: 'Custom'"):
        family.deserialize(data)
    assert family.deserialize(data, custom_objects={"Custom": Custom}).flag is True
    assert isinstance(family.get("custom", custom_objects={"Custom": Custom}), Custom)
    registered = {"class_name": "Whatever", "config": {}, "registered_name": "pkg>Custom"}
    assert isinstance(family.deserialize(registered, {"Custom": Custom}), Custom)


def test_unknown_names_list_the_known_ones(family):
    with pytest.raises(ValueError, match=r"Unknown thing: 'bad'\. Known names: "
                                         r"GoodThing, helper"):
        family.get("bad")
    with pytest.raises(ValueError, match="Could not interpret thing identifier: 3"):
        family.get(3)
    with pytest.raises(ValueError, match="class_name"):
        family.deserialize({"config": {}})
    with pytest.raises(ValueError, match="get_config"):
        family.serialize(object())


@pytest.mark.parametrize("name,expected", [
    ("Conv2D", "conv2d"), ("DepthwiseConv2D", "depthwise_conv2d"),
    ("BatchNormalization", "batch_normalization"), ("ReLU", "re_lu"), ("L1L2", "l1l2"),
    ("GlobalAveragePooling2D", "global_average_pooling2d"), ("Dense", "dense"),
])
def test_snake_case_as_keras(name, expected):
    assert snake_case(name) == expected


def test_normalize_name():
    assert normalize_name("Glorot_Uniform") == normalize_name("glorotuniform")


def test_from_keras_value():
    value = {"kernel_size": {"class_name": "__tuple__", "config": {"value": [3, 3]}},
             "nested": [{"class_name": "__tuple__", "config": {"value": [1]}}],
             "arr": {"class_name": "__numpy__", "config": {"value": [1, 2],
                                                           "dtype": "float32"}},
             "plain": {"a": 1}}
    out = from_keras_value(value)
    assert out["kernel_size"] == (3, 3) and out["nested"] == [(1,)]
    assert out["arr"].dtype == np.float32 and out["plain"] == {"a": 1}


def test_dtype_name():
    assert dtype_name("float32") == "float32" and dtype_name(np.float64) == "float64"
    policy = {"module": "keras", "class_name": "DTypePolicy",
              "config": {"name": "float16"}, "registered_name": None}
    assert dtype_name(policy) == "float16"
    assert dtype_name({"class_name": "FloatDTypePolicy", "config": {"name": "float64"}}) \
        == "float64"
    with pytest.raises(ValueError, match="mixed"):
        dtype_name("mixed_float16")
    with pytest.raises(ValueError, match="dtype='floaty'"):
        dtype_name("floaty")
    with pytest.raises(ValueError, match="DTypePolicy"):
        dtype_name({"class_name": "Other"})


@pytest.mark.parametrize("module,name,kind", [
    (mdl.initializers, "glorot_uniform", mdl.initializers.GlorotUniform),
    (mdl.regularizers, "l1_l2", mdl.regularizers.L1L2),
    (mdl.constraints, "max_norm", mdl.constraints.MaxNorm),
    (mdl.optimizers, "adam", mdl.optimizers.Adam),
])
def test_every_family_uses_the_helper(module, name, kind):
    obj = module.get(name)
    assert isinstance(obj, kind)
    assert isinstance(module.deserialize(module.serialize(obj)), kind)
    with pytest.raises(ValueError, match="Known"):
        module.get("surely_not_a_name")


def test_custom_objects_reach_nested_configs():
    class Halve(mdl.regularizers.Regularizer):
        def __call__(self, w):
            return (w * w).sum() * 0.5

    class Holder:
        def __init__(self, reg=None):
            self.reg = mdl.regularizers.get(reg)     # no custom_objects passed here

        @classmethod
        def from_config(cls, config):
            return cls(**config)

    fam = Family("holder", module="demo")
    data = {"class_name": "Holder",
            "config": {"reg": {"class_name": "Halve", "config": {}}}}
    holder = fam.deserialize(data, custom_objects={"Holder": Holder, "Halve": Halve})
    assert isinstance(holder.reg, Halve)
    with pytest.raises(ValueError, match="Unknown regularizer: 'Halve'"):
        fam.deserialize(data, custom_objects={"Holder": Holder})


def test_custom_object_scopes_belong_to_the_thread_that_opened_them(family):
    """Two threads deserializing at once: each sees its own custom objects only, and
    closing one scope leaves the other thread's open."""
    class Mine(Base):
        pass

    class Theirs(Base):
        pass

    opened, looked, closed = (threading.Barrier(2, timeout=20) for _ in range(3))

    def other_thread():
        opened.wait()  # this thread's scope opens after the main thread's
        with custom_object_scope({"Custom": Theirs}):
            looked.wait()
            first = family.lookup("Custom")
            closed.wait()  # the main thread closed its scope
            return first, family.lookup("Custom")

    result = {}
    thread = threading.Thread(target=lambda: result.update(found=other_thread()))
    thread.start()
    with custom_object_scope({"Custom": Mine}):
        opened.wait()
        looked.wait()
        mine = family.lookup("Custom")
    closed.wait()
    thread.join(20)
    assert mine is Mine and result["found"] == (Theirs, Theirs)
    with pytest.raises(ValueError, match="Unknown thing: 'Custom'"):
        family.lookup("Custom")


def test_custom_objects_passed_to_from_config_that_accepts_them():
    seen = {}

    class Container:
        @classmethod
        def from_config(cls, config, custom_objects=None):
            seen["objects"] = custom_objects
            return cls()

    fam = Family("container", module="demo")
    fam.deserialize({"class_name": "Container", "config": {}},
                    custom_objects={"Container": Container, "X": int})
    assert seen["objects"] == {"Container": Container, "X": int}
