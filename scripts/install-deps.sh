#!/usr/bin/env bash
# Installs the Debian packages SiteSync needs. `build`: what compiling needs; `test`: also the servers the tests
# start themselves (OpenSSH sshd). Safe to run again: installs only what is missing.
set -euo pipefail
what=${1:-build}
packages=(libsqlite3-dev libssh-dev)
if [ "$what" = test ]; then
  packages+=(openssh-server openssh-client postgresql)
fi
if [ "$what" = bench ]; then
  packages+=(openssh-server openssh-client rclone bc python3)
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
