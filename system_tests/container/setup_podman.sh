#!/usr/bin/env bash
# Installs what `make container-image` needs on a Debian machine: podman (with
# runc, see containers.conf beside this file) and mmdebstrap for the base image.
# Quick when everything is there.
set -euo pipefail

missing=()
for command_package in podman:podman runc:runc mmdebstrap:mmdebstrap; do
    command -v "${command_package%%:*}" >/dev/null 2>&1 || missing+=("${command_package#*:}")
done
if [ "${#missing[@]}" -gt 0 ]; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    echo "installing ${missing[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
podman --version
