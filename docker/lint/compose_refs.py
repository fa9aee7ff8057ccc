"""Checks what `docker compose config` would, for the compose keys docker/ uses.

Usage: compose_refs.py BASE.yaml [OVERLAY.yaml ...]

Merges the files as compose does (services and top-level maps by key, a service's maps by
key, `command` replaced, volumes by their target), then checks that every depends_on names
a service with a healthcheck when it waits for service_healthy, that every named volume is
declared, and that bind-mount sources, build contexts and Dockerfiles exist. Relative paths
resolve against the first file's folder, as compose resolves them.
"""
import os
import sys

import yaml


def merge_service(base, over):
    out = dict(base)
    for key, value in over.items():
        if key == "volumes":
            by_target = {v.split(":")[1]: v for v in out.get("volumes", [])}
            by_target.update({v.split(":")[1]: v for v in value})
            out["volumes"] = list(by_target.values())
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            merged = dict(out[key])
            merged.update(value)
            out[key] = merged
        else:
            out[key] = value
    return out


def main(paths):
    base_dir = os.path.dirname(os.path.abspath(paths[0]))
    services, volumes = {}, {}
    for path in paths:
        with open(path) as f:
            doc = yaml.safe_load(f) or {}
        for name, svc in (doc.get("services") or {}).items():
            services[name] = merge_service(services.get(name, {}), svc or {})
        volumes.update(doc.get("volumes") or {})

    errors = []
    for name, svc in services.items():
        if "image" not in svc and "build" not in svc:
            errors.append(f"{name}: neither image nor build (an overlay without its base?)")
        build = svc.get("build")
        if isinstance(build, dict):
            context = os.path.normpath(os.path.join(base_dir, build.get("context", ".")))
            dockerfile = os.path.join(context, build.get("dockerfile", "Dockerfile"))
            if not os.path.isdir(context):
                errors.append(f"{name}: build context {context} missing")
            if not os.path.isfile(dockerfile):
                errors.append(f"{name}: Dockerfile {dockerfile} missing")
        for dep, cond in (svc.get("depends_on") or {}).items():
            if dep not in services:
                errors.append(f"{name}: depends_on unknown service {dep}")
            elif (cond or {}).get("condition") == "service_healthy":
                # A built image may bring its own HEALTHCHECK.
                if "healthcheck" not in services[dep] and "build" not in services[dep]:
                    errors.append(f"{name}: waits for {dep} healthy, {dep} has no healthcheck")
        for spec in svc.get("volumes") or []:
            source = spec.split(":")[0]
            if source.startswith((".", "/")):
                path = os.path.normpath(os.path.join(base_dir, source))
                if not os.path.exists(path):
                    errors.append(f"{name}: bind mount source {path} missing")
            elif source not in volumes:
                errors.append(f"{name}: volume {source} not declared")
    for error in errors:
        print(error)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
