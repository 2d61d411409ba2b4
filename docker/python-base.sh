#!/usr/bin/env bash
# Make the offline Python base image: Debian bookworm and its Python 3.11, built from Debian
# packages with debootstrap (no registry pull), committed to the machine's container storage.
#
#   docker/python-base.sh            # prints the image name; builds it only when missing
#
# It is made once per machine and reused by every build after it (any clone, any branch): the
# image carries the sha256 of this script as a label, and a changed recipe makes a new image.
# Set DEBIAN_MIRROR to use another Debian mirror than debootstrap's default.
set -euo pipefail

IMAGE=${PYTHON_BASE_IMAGE:-localhost/finnews/python-base:3.11-bookworm}
SUITE=bookworm
# python3-venv brings ensurepip, which the image build uses to make its virtual environment;
# ca-certificates is there for TLS clients (the Elasticsearch backend), as in the official image.
PACKAGES=python3,python3-venv,ca-certificates
RECIPE_LABEL=finnews.python-base.recipe-sha256

recipe=$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)
built=$(buildah inspect --type image --format "{{index .OCIv1.Config.Labels \"$RECIPE_LABEL\"}}" "$IMAGE" 2>/dev/null || true)
if [[ "$built" == "$recipe" ]]; then
    echo "python base: $IMAGE is up to date (recipe ${recipe:0:12})" >&2
    echo "$IMAGE"
    exit 0
fi

echo "python base: building $IMAGE from Debian $SUITE packages (recipe ${recipe:0:12})" >&2
start=$SECONDS
container=$(buildah from scratch)
trap 'buildah rm "$container" >/dev/null 2>&1 || true' EXIT
root=$(buildah mount "$container")
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$root" ${DEBIAN_MIRROR:+"$DEBIAN_MIRROR"} >&2

# Slim it as Debian's own -slim images do, for this layer and for packages added later on.
cat > "$root/etc/dpkg/dpkg.cfg.d/slim" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
DPKG
find "$root/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$root"/usr/share/{man,info,locale}/* "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
       "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/debconf/*-old "$root"/var/log/*.log \
       "$root"/var/log/apt/* "$root"/var/lib/dpkg/*-old
buildah umount "$container" >/dev/null

buildah config \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 \
    --cmd python3 \
    --label "$RECIPE_LABEL=$recipe" \
    --label "org.opencontainers.image.description=Debian $SUITE with Python 3.11, from Debian packages" \
    "$container"
buildah commit --quiet --rm "$container" "$IMAGE" >/dev/null
trap - EXIT
echo "python base: $IMAGE built in $((SECONDS - start)) s" >&2
echo "$IMAGE"
