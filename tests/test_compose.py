"""docker-compose.yml against the code it deploys: the settings it sets, the search attributes
and dynamic config it gives Temporal, and the Temporal version it runs. No Docker: the file is
read as YAML."""

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices, AliasPath
from temporalio.common import SearchAttributeIndexedValueType

from journeys.config.settings import Settings
from journeys.devserver import DevServer, find_binary
from journeys.vocabulary import search_attributes as sa

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}; $$ is a literal dollar.
INTERPOLATION = re.compile(
    r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
)


def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text())  # merge keys (<<: *anchor) resolved
    assert isinstance(document, dict) and document.get("services"), f"{COMPOSE}: no services"
    return document


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment, in either of compose's spellings (mapping or KEY=VALUE list)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def resolved(value: str) -> str:
    """`value` as compose interpolates it with nothing set on the host: defaults taken, required
    variables given a placeholder."""

    def replace(match: re.Match[str]) -> str:
        op = match.group("op") or ""
        if "-" in op:
            return match.group("arg")
        return "placeholder" if "?" in op else ""

    return INTERPOLATION.sub(replace, value.replace("$$", "\0")).replace("\0", "$")


def settings_env_names() -> set[str]:
    """The environment variables Settings reads, as pydantic-settings names them: the prefix and
    the field name, or the field's alias(es) without the prefix."""
    prefix = Settings.model_config.get("env_prefix", "")
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias or field.alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias] if alias else []
        for choice in choices:
            names.add(str(choice.path[0]) if isinstance(choice, AliasPath) else choice)
        if not choices:
            names.add(prefix + name)
    return names


def is_setting(variable: str, known: set[str]) -> bool:
    fold = (lambda s: s) if Settings.model_config.get("case_sensitive") else str.upper
    if fold(variable) in {fold(name) for name in known}:
        return True
    # With a nested delimiter, PREFIX_FIELD__SUB sets a sub-field of FIELD.
    delimiter = Settings.model_config.get("env_nested_delimiter")
    return bool(delimiter) and fold(variable.split(delimiter, 1)[0]) in {fold(n) for n in known}


def test_every_journeys_variable_is_a_setting() -> None:
    prefix = Settings.model_config.get("env_prefix", "")
    known = settings_env_names()
    unknown = [
        f"service {name!r} sets {variable}"
        for name, service in services().items()
        for variable in environment(service)
        if variable.upper().startswith(prefix.upper()) and not is_setting(variable, known)
    ]
    # The host's own variables the file interpolates, e.g. ${JOURNEYS_TEMPORAL_NAMESPACE:-...}.
    unknown += [
        f"the file reads ${{{variable}}} from the host"
        for variable in sorted(
            {m.group("name") for m in INTERPOLATION.finditer(COMPOSE.read_text())}
        )
        if variable.upper().startswith(prefix.upper()) and not is_setting(variable, known)
    ]
    assert not unknown, (
        f"{COMPOSE.name}: not a field of journeys.config.settings.Settings"
        f" (env prefix {prefix!r}): " + "; ".join(unknown)
    )


def test_the_settings_it_sets_are_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = Settings.model_config.get("env_prefix", "")
    for name, service in services().items():
        env = {
            k: v for k, v in environment(service).items() if k.upper().startswith(prefix.upper())
        }
        if not env:
            continue
        for variable in [v for v in os.environ if v.upper().startswith(prefix.upper())]:
            monkeypatch.delenv(variable)
        for variable, value in env.items():
            monkeypatch.setenv(variable, resolved(value))
        try:
            Settings()
        except Exception as err:  # noqa: BLE001  (name the service, then show pydantic's reason)
            pytest.fail(f"service {name!r}: its {prefix}* environment is not valid Settings: {err}")


def setup_job() -> tuple[str, dict[str, str]]:
    """The one-shot service that runs deploy/temporal/setup-namespace.sh, and its environment."""
    found = [
        (name, environment(service))
        for name, service in services().items()
        if "setup-namespace.sh" in str(service.get("entrypoint", "")) + str(service.get("command"))
    ]
    assert len(found) == 1, f"expected one service running setup-namespace.sh, found {found}"
    return found[0]


def cli_type(value_type: SearchAttributeIndexedValueType) -> str:
    """KEYWORD_LIST -> KeywordList: the type names `temporal operator search-attribute` takes."""
    return "".join(part.capitalize() for part in value_type.name.split("_"))


def test_the_setup_registers_exactly_the_projects_search_attributes() -> None:
    name, env = setup_job()
    registered: dict[str, str] = {}
    problems = []
    for word in resolved(env.get("SEARCH_ATTRIBUTES", "")).split():
        attribute, _, value_type = word.partition("=")
        if not value_type:
            problems.append(f"{word!r} is not NAME=TYPE")
        elif attribute in registered:
            problems.append(f"{attribute} is registered twice")
        registered[attribute] = value_type
    expected = {key.name: cli_type(key.indexed_value_type) for key in sa.ALL}
    for attribute, value_type in expected.items():
        if attribute not in registered:
            problems.append(f"{attribute} ({value_type}) is not registered")
        elif registered[attribute] != value_type:
            problems.append(
                f"{attribute} is registered as {registered[attribute]}, not {value_type}"
            )
    problems += [
        f"{attribute} ({value_type}) is not in journeys/vocabulary/search_attributes.py"
        for attribute, value_type in registered.items()
        if attribute not in expected
    ]
    assert not problems, f"service {name!r}, SEARCH_ATTRIBUTES: " + "; ".join(problems)


def test_the_setup_prepares_the_namespace_and_server_the_app_uses() -> None:
    name, env = setup_job()
    for service_name, service in services().items():
        app = environment(service)
        if "JOURNEYS_TEMPORAL_NAMESPACE" in app:
            assert app["JOURNEYS_TEMPORAL_NAMESPACE"] == env.get("NAMESPACE"), (
                f"service {service_name!r} uses namespace {app['JOURNEYS_TEMPORAL_NAMESPACE']!r}"
                f" but {name!r} prepares {env.get('NAMESPACE')!r}"
            )
        if "JOURNEYS_TEMPORAL_ADDRESS" in app:
            assert app["JOURNEYS_TEMPORAL_ADDRESS"] == env.get("TEMPORAL_ADDRESS"), (
                f"service {service_name!r} connects to {app['JOURNEYS_TEMPORAL_ADDRESS']!r}"
                f" but {name!r} prepares {env.get('TEMPORAL_ADDRESS')!r}"
            )


def host_path(service: dict[str, Any], container_path: str) -> Path | None:
    """Where a path inside the container comes from in this repository, through a bind mount."""
    for volume in service.get("volumes", []):
        source, _, rest = str(volume).partition(":")
        target = rest.split(":")[0]
        if source.startswith(".") and (container_path + "/").startswith(target.rstrip("/") + "/"):
            return (ROOT / source / container_path[len(target) :].lstrip("/")).resolve()
    return None


def test_what_the_services_mount_and_run_from_the_repository_exists() -> None:
    missing = []
    for name, service in services().items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith(".") and not (ROOT / source).exists():
                missing.append(f"service {name!r} mounts {source}")
        entrypoint = service.get("entrypoint") or []
        for word in [entrypoint] if isinstance(entrypoint, str) else entrypoint:
            path = host_path(service, word) if word.endswith(".sh") else None
            if path is not None and not path.is_file():
                missing.append(f"service {name!r} runs {word}, from {path.relative_to(ROOT)}")
    assert not missing, "missing from the repository: " + "; ".join(missing)


def temporal_images() -> list[tuple[str, str, str]]:
    """(service, image, tag) of every service on a temporalio/server or admin-tools image."""
    found = []
    for name, service in services().items():
        image = resolved(str(service.get("image", "")))
        repository, _, tag = image.rpartition(":")
        if repository.removeprefix("docker.io/") in ("temporalio/server", "temporalio/admin-tools"):
            found.append((name, image, tag))
    return found


def test_the_server_and_admin_tools_are_the_minor_the_tests_run() -> None:
    try:
        binary = find_binary("temporal")
    except FileNotFoundError as err:
        pytest.skip(str(err))
    version = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    match = re.search(r"Server (\d+)\.(\d+)\.\d+", version)
    assert match, f"no 'Server X.Y.Z' in `temporal --version`: {version!r}"
    bundled = f"{match.group(1)}.{match.group(2)}"
    images = temporal_images()
    kinds = {image.rpartition(":")[0].rpartition("/")[2] for _, image, _ in images}
    assert kinds == {"server", "admin-tools"}, f"expected server and admin-tools images: {images}"
    wrong = [
        f"service {name!r} runs {image}"
        for name, image, tag in images
        if not re.fullmatch(rf"{re.escape(bundled)}\.\d+", tag)
    ]
    assert not wrong, (
        f"the dev server the tests run is Temporal {bundled} ({binary}), but "
        + "; ".join(wrong)
        + f": use a published {bundled}.x tag"
    )


def test_the_server_has_the_dev_servers_dynamic_config() -> None:
    """`journeys up` and the tests pass --dynamic-config-value flags; the cluster needs the same."""
    flags = DevServer(Path("unused.db"), 7233, 8233).command()
    wanted = {
        key: yaml.safe_load(value)
        for flag, setting in zip(flags, flags[1:], strict=False)
        if flag == "--dynamic-config-value"
        for key, _, value in [setting.partition("=")]
    }
    (name, server), *others = [
        (name, service)
        for name, service in services().items()
        if str(service.get("image", "")).startswith("temporalio/server:")
    ]
    assert not others, "expected one temporalio/server service"
    container_path = environment(server).get(
        "DYNAMIC_CONFIG_FILE_PATH", "/etc/temporal/config/dynamicconfig/docker.yaml"
    )
    path = host_path(server, container_path)
    assert path and path.is_file(), f"service {name!r}: {container_path} is not mounted from a file"
    # Temporal matches keys case-insensitively; an entry without constraints is the global value.
    config = {
        str(key).lower(): entries for key, entries in (yaml.safe_load(path.read_text())).items()
    }
    wrong = []
    for key, value in wanted.items():
        values = [e.get("value") for e in config.get(key.lower(), []) if not e.get("constraints")]
        if values != [value]:
            wrong.append(f"{key}: {values[0] if values else 'unset'}, the dev server's is {value}")
    assert not wrong, f"{path.relative_to(ROOT)}: " + "; ".join(wrong)
