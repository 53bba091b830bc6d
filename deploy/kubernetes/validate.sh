#!/usr/bin/env bash
# Validates the deployment files offline, with schemas bundled in PyPI packages
# (no cluster and no Docker engine needed):
#   - Kubernetes: every manifest in this folder (secret.example.yaml included) and
#     the kustomize build (what `kubectl apply -k` would send, when kubectl is
#     installed), strictly (unknown fields fail), with kubernetes-validate;
#   - docker-compose.yml against the Compose Specification schema, with
#     check-jsonschema's bundled copy.
# The validators are installed once into a virtualenv under target/.
#
#   bash deploy/kubernetes/validate.sh
#
# Env: K8S_VERSION (the Kubernetes API version to validate against, default 1.30.0,
# the oldest these manifests are meant for).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
k8s_version="${K8S_VERSION:-1.30.0}"
requirements=(kubernetes-validate==1.37.0 check-jsonschema==0.39.0)
venv="$root/target/deploy-validate-venv"
stamp="$venv/.requirements"

if [[ ! -f "$stamp" || "$(cat "$stamp")" != "${requirements[*]}" ]]; then
    echo "installing ${requirements[*]} into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "${requirements[@]}"
    echo "${requirements[*]}" >"$stamp"
fi

cd "$here"
manifests=()
for file in *.yaml; do
    [[ "$file" == kustomization.yaml ]] || manifests+=("$file")
done

echo "kubernetes-validate --strict -k $k8s_version: ${manifests[*]}"
"$venv/bin/kubernetes-validate" --strict --no-warn -k "$k8s_version" "${manifests[@]}"

if command -v kubectl >/dev/null 2>&1; then
    built="$(mktemp --suffix=.yaml)"
    trap 'rm -f "$built"' EXIT
    kubectl kustomize "$here" >"$built"
    echo "kubernetes-validate --strict -k $k8s_version: kustomize build of deploy/kubernetes"
    "$venv/bin/kubernetes-validate" --strict --no-warn -k "$k8s_version" "$built"
else
    echo "kubectl not found: skipped the kustomize build (each file was validated on its own)"
fi

echo "check-jsonschema (compose-spec): docker-compose.yml"
"$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec "$root/docker-compose.yml"

echo "deployment files: valid"
