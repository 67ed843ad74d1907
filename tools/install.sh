#!/usr/bin/env bash
# Installs the pinned Python tools the tests use, one virtualenv per tool set, under
# $WH_TOOLS_DIR (default ~/.cache/wh/tools). Idempotent: a tool set whose requirements file is
# unchanged since its last install is left alone, so a warm run costs a few milliseconds.
# Prints `export` lines for the tests to source.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tools_dir=${WH_TOOLS_DIR:-$HOME/.cache/wh/tools}
mkdir -p "$tools_dir"

# venv NAME: makes $tools_dir/NAME from requirements/NAME.txt unless already current.
venv() {
  local name=$1 req="$here/requirements/$1.txt" dir="$tools_dir/$1"
  local want
  want=$(sha256sum "$req" | cut -d' ' -f1)
  if [[ -f "$dir/.installed" && "$(cat "$dir/.installed")" == "$want" ]]; then
    return
  fi
  echo "installing $name into $dir" >&2
  rm -rf "$dir"
  python3 -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$req" >&2
  echo "$want" > "$dir/.installed"
}

# Root on the CI machine; elsewhere (a GitHub runner) through sudo.
sudo=()
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then sudo=(sudo); fi

if ! command -v python3 >/dev/null; then
  echo "python3 is needed for the linters: apt-get install python3 python3-venv" >&2
  exit 2
fi
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  echo "installing python3-venv" >&2
  "${sudo[@]}" apt-get update -qq >&2 && "${sudo[@]}" apt-get install -y -qq python3-venv >&2
fi

# The ARM64 packaging test: the Rust target cargo-lambda builds for, and user-mode qemu with
# the arm64 C runtime to run the result.
if ! rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
  echo "adding the aarch64-unknown-linux-gnu Rust target" >&2
  rustup target add aarch64-unknown-linux-gnu >&2
fi
debs=(qemu-user-static libc6-arm64-cross libgcc-s1-arm64-cross)
missing=()
for d in "${debs[@]}"; do
  dpkg -s "$d" >/dev/null 2>&1 || missing+=("$d")
done
if ((${#missing[@]})); then
  echo "installing ${missing[*]}" >&2
  "${sudo[@]}" apt-get update -qq >&2 && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi

# cfn-guard and AWS Control Tower's proactive controls as cfn-guard rules: the npm package
# @cdklabs/cdk-validator-cfnguard ships both (the cfn-guard 3.1.1 binary for Linux inside the
# package, the 237 rules under rules/control-tower). `npm pack` fetches the pinned tarball alone
# (installing it would pull its aws-cdk-lib peer); its SHA-256 is checked before it is unpacked.
guard_version=0.0.62
guard_sha256=660c14562d4c79d524d0623d80d494e41797acae9da23ecb10915d7f66ada80c
guard_dir=$tools_dir/cfn-guard-$guard_version
guard_bin=$guard_dir/package/bin/ubuntu/$(uname -m)/cfn-guard
if [[ ! -x "$guard_bin" ]]; then
  if ! command -v npm >/dev/null; then
    echo "installing npm" >&2
    "${sudo[@]}" apt-get update -qq >&2 && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >&2
  fi
  echo "installing @cdklabs/cdk-validator-cfnguard@$guard_version into $guard_dir" >&2
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "@cdklabs/cdk-validator-cfnguard@$guard_version" >/dev/null)
  echo "$guard_sha256  $tmp/cdklabs-cdk-validator-cfnguard-$guard_version.tgz" | sha256sum -c --quiet >&2
  rm -rf "$guard_dir" && mkdir -p "$guard_dir"
  tar -xzf "$tmp/cdklabs-cdk-validator-cfnguard-$guard_version.tgz" -C "$guard_dir"
  chmod +x "$guard_bin"
  rm -rf "$tmp"
fi

venv cfn-lint
venv checkov
venv jsonschema
venv moto
venv cargo-lambda

echo "export WH_CFN_LINT=$tools_dir/cfn-lint/bin/cfn-lint"
echo "export WH_CHECKOV=$tools_dir/checkov/bin/checkov"
echo "export WH_SCHEMA_PYTHON=$tools_dir/jsonschema/bin/python"
echo "export WH_MOTO_SERVER=$tools_dir/moto/bin/moto_server"
echo "export WH_CARGO_LAMBDA=$tools_dir/cargo-lambda/bin/cargo-lambda"
echo "export WH_QEMU_AARCH64=$(command -v qemu-aarch64-static)"
echo "export WH_CFN_GUARD=$guard_bin"
echo "export WH_CT_GUARD_RULES=$guard_dir/package/rules/control-tower/cfn-guard"
