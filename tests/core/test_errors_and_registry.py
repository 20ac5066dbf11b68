from __future__ import annotations

import inspect

import pytest

import finetune_sdk.errors as errors
from finetune_sdk import backends
from finetune_sdk.backends.base import Backend, JobKind, JobSpec, MetadataFilter
from finetune_sdk.errors import (
    BackendNotFoundError,
    BackendNotInstalledError,
    ConfigurationError,
    FinetuneError,
)


def test_every_public_exception_derives_from_the_root_and_is_drawn_in_the_docstring() -> None:
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, FinetuneError), name
        assert name in (errors.__doc__ or ""), f"{name} missing from the tree drawn in errors.__doc__"


@pytest.mark.parametrize(
    ("name", "builtin"),
    [
        ("ConfigurationError", ValueError),
        ("CatalogError", LookupError),
        ("JobTimeoutError", TimeoutError),
        ("AccessDeniedError", PermissionError),
        ("BackendNotInstalledError", ImportError),
        ("UnsupportedOperationError", NotImplementedError),
        ("ServiceUnavailableError", ConnectionError),
    ],
)
def test_builtin_mixins(name: str, builtin: type) -> None:
    assert issubclass(getattr(errors, name), builtin)


def test_error_constructors_are_keyword_only() -> None:
    for cls in (errors.JobTimeoutError, errors.JobFailedError, errors.BackendError, errors.RequestValidationError):
        params = list(inspect.signature(cls.__init__).parameters.values())[2:]
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params), cls


def test_unknown_backend_lists_installed_ones() -> None:
    with pytest.raises(BackendNotFoundError, match=r"no backend named 'nope'.*bedrock.*local"):
        backends.get("nope")


def test_missing_dependency_gives_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(backends._BUILTIN_TARGETS, "ghost", "finetune_sdk_not_here.mod:Ghost")
    monkeypatch.setitem(backends._EXTRAS, "ghost", "finetune-sdk[ghost]")
    with pytest.raises(BackendNotInstalledError, match=r"pip install 'finetune-sdk\[ghost\]'"):
        backends.get("ghost")


def test_register_refuses_to_clobber_without_replace() -> None:
    class A(Backend):
        name = "a"

    class B(A):
        pass

    for cls in (A, B):
        for meth in (
            "submit_job",
            "describe_job",
            "stop_job",
            "list_jobs",
            "describe_model",
            "list_models",
            "delete_model",
        ):
            setattr(cls, meth, lambda *a, **k: None)
        cls.__abstractmethods__ = frozenset()
    backends.register_backend("a-test", A)
    with pytest.raises(ConfigurationError, match="replace=True"):
        backends.register_backend("a-test", B)
    backends.register_backend("a-test", B, replace=True)
    assert isinstance(backends.get("a-test"), B)
    with pytest.raises(ConfigurationError, match="does not take the options"):
        backends.get("a-test", bogus=1)
    with pytest.raises(ConfigurationError):
        backends.register_backend("x", object)  # type: ignore[arg-type]


def test_registry_is_read_only() -> None:
    with pytest.raises(TypeError):
        backends.registry["x"] = Backend  # type: ignore[index]


def test_metadata_filter_rules() -> None:
    assert MetadataFilter.all_of(a="1", b="2").to_request() == {
        "andAll": [{"equals": {"a": "1"}}, {"equals": {"b": "2"}}]
    }
    assert MetadataFilter(not_equals={"a": "1"}).matches({"a": "2"})
    with pytest.raises(ValueError, match="exactly one key"):
        MetadataFilter(equals={"a": "1", "b": "2"})
    with pytest.raises(ValueError, match="exactly one operator"):
        MetadataFilter(equals={"a": "1"}, not_equals={"b": "2"})
    with pytest.raises(ValueError, match="cannot be nested"):
        MetadataFilter(and_all=(MetadataFilter.any_of(a="1", b="2"),))
    with pytest.raises(ValueError, match="1 to 16"):
        MetadataFilter(or_all=tuple(MetadataFilter(equals={f"k{i}": "v"}) for i in range(17)))


def test_job_spec_client_token_is_stable_and_content_derived() -> None:
    a = JobSpec(kind=JobKind.FINE_TUNING, base_model="m", name="n", output_model_name="o", training_data="s3://b/k")
    b = JobSpec(kind=JobKind.FINE_TUNING, base_model="m", name="n", output_model_name="o", training_data="s3://b/k")
    c = a.model_copy(update={"hyperparameters": {"epochCount": 3}})
    assert a.client_token() == b.client_token() != c.client_token()
    assert len(a.client_token()) <= 256
    with pytest.raises(ValueError, match="needs training_data"):
        JobSpec(kind=JobKind.FINE_TUNING, base_model="m", name="n", output_model_name="o")
    with pytest.raises(ValueError, match="teacher"):
        JobSpec(kind=JobKind.DISTILLATION, base_model="m", name="n", output_model_name="o", training_data="s3://b/k")


def test_client_token_covers_typed_backend_options() -> None:
    from finetune_sdk.backends.base import BackendOptions

    class Opts(BackendOptions):
        kms_key_id: str | None = None

    base = JobSpec(kind=JobKind.FINE_TUNING, base_model="m", name="n", output_model_name="o", training_data="s3://b/k")
    one = base.model_copy(update={"backend_options": Opts(kms_key_id="k1")})
    two = base.model_copy(update={"backend_options": Opts(kms_key_id="k2")})
    assert len({base.client_token(), one.client_token(), two.client_token()}) == 3
