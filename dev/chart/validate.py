"""Validation glue for tests/api/chart.rs, run with the Python that dev/chart/tools installs.

  validate.py manifests [MIN_MINOR]   rendered YAML on stdin; every document is checked against
                                      the strict Kubernetes OpenAPI JSON schemas (those of
                                      kubernetes-validate) of each minor from 1.MIN_MINOR to the
                                      newest the package carries
  validate.py values SCHEMA FILE...   checks SCHEMA against its JSON Schema meta-schema, then each
                                      values FILE against SCHEMA: a second implementation next to
                                      Helm's own check

Prints one JSON object on stdout (the parsed documents too, so the Rust test needs no YAML
parser) and exits 0; a crash exits non-zero with a traceback.
"""

import json
import re
import sys

import jsonschema
import kubernetes_validate
import yaml
from kubernetes_validate import utils as kv
from referencing import Registry, Resource


def schema_errors(doc, version):
    """Every error of `doc` against the strict schema of `version` (kubernetes_validate.validate
    stops at the first), or None when no schema covers its kind."""
    api_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", doc["apiVersion"])
    schema_dir = f"v{version}-local-strict"
    try:
        schema = kv.schema_contents(f"kubernetes-json-schema/{schema_dir}/{doc['kind'].lower()}-{api_version}.json", version)
    except FileNotFoundError:
        return None
    definitions = kv.schema_contents(f"kubernetes-json-schema/{schema_dir}/_definitions.json", version)
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    validator = jsonschema.validators.Draft202012Validator(schema, registry=registry)
    return list(validator.iter_errors(doc))


def manifests(min_minor):
    docs = [d for d in yaml.safe_load_all(sys.stdin.read()) if d]
    newest = kv.latest_version()
    versions = sorted({v for v in kv.all_versions() if int(v.split(".")[1]) >= min_minor}, key=lambda v: int(v.split(".")[1]))
    errors, unvalidated = [], []
    for doc in docs:
        what = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        for version in versions:
            found = schema_errors(doc, version)
            if found is None:
                unvalidated.append({"object": what, "apiVersion": doc.get("apiVersion"), "version": version})
                break
            for e in found:
                path = ".".join(str(p) for p in e.absolute_path)
                errors.append({"object": what, "version": version, "path": path, "message": e.message})
    json.dump(
        {
            "package": f"kubernetes-validate {kubernetes_validate.__version__}",
            "versions": versions,
            "newest": newest,
            "documents": docs,
            "errors": errors,
            "unvalidated": unvalidated,
        },
        sys.stdout,
    )


def values(schema_path, files):
    with open(schema_path) as f:
        schema = json.load(f)
    cls = jsonschema.validators.validator_for(schema)
    meta_errors = [e.message for e in cls(cls.META_SCHEMA).iter_errors(schema)]
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    results = {}
    for path in files:
        with open(path) as f:
            data = yaml.safe_load(f) or {}
        results[path] = [
            {"path": "/" + "/".join(str(p) for p in e.absolute_path), "message": e.message}
            for e in validator.iter_errors(data)
        ]
    json.dump({"dialect": schema.get("$schema"), "meta_errors": meta_errors, "files": results}, sys.stdout)


if __name__ == "__main__":
    if sys.argv[1] == "manifests":
        manifests(int(sys.argv[2]) if len(sys.argv) > 2 else 30)
    elif sys.argv[1] == "values":
        values(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(f"unknown command {sys.argv[1]}")
