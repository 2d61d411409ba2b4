#!/usr/bin/env bash
# Build an image of this repository with buildah, offline: no Docker engine, no registry pull,
# no model hub, no package index reached from inside the build.
#
#   docker/build-offline.sh [-f DOCKERFILE] [-t NAME:TAG] [--version VERSION] [--build-arg K=V]...
#
# Defaults: -f docker/Dockerfile.api, --version dev, -t finbert-rag/api:VERSION. The image gets
# APP_VERSION=VERSION, and the commit and origin of this checkout as its OCI labels.
#
# What makes it offline:
#   - the base image is docker/python-base.sh's Debian-made Python, made once per machine and
#     passed to the build by digest (what debootstrap put in it is not pinned: the Debian
#     archive's signed Release file vouches for each package, but the versions are the mirror's
#     current bookworm ones when the base is made);
#   - Python packages come from a wheelhouse that this machine's pip fills with exactly the files
#     requirements.lock names, hashes checked (with its own index and settings: torch is its CPU
#     build), cached per lock under ${XDG_CACHE_HOME:-~/.cache}/finnews/wheelhouse and mounted
#     read-only into the build, where pip uses no index and checks every hash again;
#   - the models come from their PyPI packages (MODEL_SOURCE=pypi), checked against the same
#     sha256 pins as the hub's.
# Needs root (debootstrap, buildah's chroot isolation, a network namespace).
# Build layers stay cached in container storage: a rebuild with nothing changed reuses them and
# yields the same image. Prints the build time and the image size last.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dockerfile=docker/Dockerfile.api
version=dev
tag=
build_args=()
while (($#)); do
    case $1 in
        -f | --file) dockerfile=$2; shift 2 ;;
        -t | --tag) tag=$2; shift 2 ;;
        --version) version=$2; shift 2 ;;
        --build-arg) build_args+=(--build-arg "$2"); shift 2 ;;
        --build-arg=*) build_args+=(--build-arg "${1#--build-arg=}"); shift ;;
        -h | --help) sed -n '2,/^set -e/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//; /^set -e/d'; exit 0 ;;
        *) echo "build-offline: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
tag=${tag:-finbert-rag/api:$version}
pip=$root/.venv/bin/pip  # the environment `make venv` makes, with this machine's pip settings
cache=${XDG_CACHE_HOME:-$HOME/.cache}/finnews
start=$SECONDS

base=$("$root/docker/python-base.sh")
# The build takes the base by digest: the very image made above, whatever the tag says later.
base_digest=$(buildah images --digests --format '{{.Digest}}' "$base")
base_digest=${base_digest%%$'\n'*}
base="${base%:*}@$base_digest"

# The wheelhouse for this lock: filled once, then reused by every build.
requirements=("$root/requirements.lock" "$root/requirements-models.txt")
key=$(cat "${requirements[@]}" | sha256sum | cut -c1-16)
wheelhouse=$cache/wheelhouse/$key
if [[ ! -f $wheelhouse/.complete ]]; then
    echo "wheelhouse: filling $wheelhouse with $pip" >&2
    rm -rf "$wheelhouse.partial" && mkdir -p "$wheelhouse.partial"
    "$pip" download --quiet --require-hashes --no-deps --dest "$wheelhouse.partial" -r "$root/requirements.lock"
    "$pip" download --quiet --require-hashes --no-deps --dest "$wheelhouse.partial" -r "$root/requirements-models.txt"
    torch_wheel=$(find "$wheelhouse.partial" -name 'torch-*.whl' -printf '%f')
    if [[ $torch_wheel != *+cpu-* ]] || compgen -G "$wheelhouse.partial/nvidia_*" >/dev/null; then
        echo "wheelhouse: $pip took $torch_wheel, not torch's CPU build; configure pip as for make venv" >&2
        exit 1
    fi
    touch "$wheelhouse.partial/.complete"
    rm -rf "$wheelhouse" && mv "$wheelhouse.partial" "$wheelhouse"
fi
touch "$wheelhouse"
# Wheelhouses of requirement sets nobody built with for a week go.
find "$cache/wheelhouse" -mindepth 1 -maxdepth 1 -type d -mtime +7 -exec rm -rf {} +
echo "wheelhouse: $wheelhouse ($(du -sh "$wheelhouse" | cut -f1))" >&2

revision=$(git -C "$root" rev-parse HEAD)
source_url=$(git -C "$root" remote get-url origin 2>/dev/null || true)

# The last line, on stdout: the image, the time taken and its size. Args: IMAGE_ID NOTE.
report_built() {
    local size
    size=$(skopeo inspect --raw "containers-storage:$1" 2>/dev/null |
        python3 -c 'import json, sys; print(sum(layer["size"] for layer in json.load(sys.stdin)["layers"]))')
    echo "built $tag (image $1) in $((SECONDS - start)) s$2: $((size / 1000000)) MB uncompressed"
}

# Everything the build reads, hashed: the Dockerfile, the files .dockerignore lets into the
# context (bytecode aside), the base, the wheelhouse and every build argument. An image built
# from the same inputs is taken as it is: buildah's layer cache would reuse each layer too, but
# takes about a minute to find out (it hashes every file a stage copies from another). The
# service's inputs leave out the release's metadata (version, commit, origin): a new version of
# the same tree builds only the Dockerfile's release stage, in about a second, on its service image.
inputs_label=finnews.build-inputs
service_inputs=$(
    cd "$root"
    printf '%s\n' "$dockerfile" "$base" "$key" "${build_args[@]}" "$(buildah --version)"
    # shellcheck disable=SC2046 # the allowlist's paths hold no spaces
    find "$dockerfile" $(sed -n 's/^!//p' .dockerignore) -type f ! -path '*/__pycache__/*' ! -name '*.py[co]' -print0 |
        sort -z | xargs -0 sha256sum
)
service_inputs=$(sha256sum <<<"$service_inputs" | cut -c1-32)
inputs=$(printf '%s\n' "$service_inputs" "$version" "$revision" "$source_url" | sha256sum | cut -c1-32)
# The first line, without `| head`: head leaving early would end buildah by SIGPIPE, and this script with it.
built=$(buildah images --filter "label=$inputs_label=$inputs" --format '{{.ID}}')
built=${built%%$'\n'*}
if [[ -n $built ]]; then
    buildah tag "$built" "$tag"
    echo "build: $tag from $dockerfile: the inputs of image $built (inputs $inputs), which is taken as it is" >&2
    image_id=$(buildah inspect --type image --format '{{.FromImageID}}' "$tag")
    report_built "$image_id" ", already built from these inputs"
    exit 0
fi
# Chroot isolation: the OCI runtimes cannot set up their namespaces on every build machine.
# Chroot steps share the network of buildah, which runs in a network namespace of its own with
# no interface up: everything the build needs is in the context, the base and the wheelhouse,
# and a step that tried to download anything would fail.
build() { unshare --net -- buildah bud --isolation chroot --format docker "$@" >&2; }
service=localhost/finnews/service:$service_inputs
if buildah inspect --type image "$service" >/dev/null 2>&1; then
    echo "build: $tag: the service stage of $dockerfile from the same inputs is image $service" >&2
else
    echo "build: the service stage of $dockerfile, base $base, inputs $service_inputs" >&2
    build --layers --target service \
        --volume "$wheelhouse:/wheels:ro" \
        --build-arg BASE_IMAGE="$base" \
        --build-arg MODEL_SOURCE=pypi \
        --build-arg PIP_NO_INDEX=1 \
        --build-arg PIP_FIND_LINKS=/wheels \
        "${build_args[@]}" \
        --file "$root/$dockerfile" --tag "$service" "$root"
fi
echo "build: $tag, the release stage: version $version, revision ${revision:0:12}, inputs $inputs" >&2
if ! grep -q '^FROM service AS release$' "$root/$dockerfile"; then
    echo "build-offline: $dockerfile has no release stage (FROM service AS release)" >&2
    exit 1
fi
release_stage=$(mktemp)
iidfile=$(mktemp)
trap 'rm -f "$iidfile" "$release_stage"' EXIT
{
    echo "FROM $service"
    sed -n '/^FROM service AS release$/,$p' "$root/$dockerfile" | tail -n +2
} >"$release_stage"
build --layers --no-cache --iidfile "$iidfile" \
    --build-arg APP_VERSION="$version" \
    --build-arg VCS_REF="$revision" \
    --build-arg SOURCE_URL="$source_url" \
    --label "$inputs_label=$inputs" \
    --file "$release_stage" --tag "$tag" "$root"

image_id=$(<"$iidfile")
image_id=${image_id#sha256:}
report_built "$image_id" ""
