#!/bin/sh
# meson install into a scratch destdir, then build consumer.c against the installed
# zmoe.h + zmoe.pc (shared and static) and run it on hostdev. TAP output.
#   test_install.sh BUILD_DIR SOURCE_DIR
set -u
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "TAP version 13"
echo "1..7"
if meson install -C "$build" --no-rebuild --quiet --destdir "$tmp/root" >"$tmp/install.log" 2>&1; then
    echo "ok 1 - meson install into a destdir"
else
    echo "not ok 1 - meson install into a destdir"; sed 's/^/# /' "$tmp/install.log"; exit 1
fi
pc=$(find "$tmp/root" -name zmoe.pc | head -1)
export PKG_CONFIG_PATH="$(dirname "$pc")" PKG_CONFIG_SYSROOT_DIR="$tmp/root"
libdir=$(dirname "$(dirname "$pc")")
if ${CC:-cc} -std=c11 -Wall -Werror ${ZMOE_CONSUMER_CFLAGS:-} "$src/consumer.c" -o "$tmp/consumer" \
        $(pkg-config --cflags --libs zmoe) >"$tmp/cc.log" 2>&1; then
    echo "ok 2 - consumer builds against the installed header and pkg-config file (shared)"
else
    echo "not ok 2 - consumer builds against the installed header and pkg-config file (shared)"
    sed 's/^/# /' "$tmp/cc.log"; exit 1
fi
if ${CC:-cc} -std=c11 -Wall -Werror ${ZMOE_CONSUMER_CFLAGS:-} "$src/consumer.c" -o "$tmp/consumer_static" \
        $(pkg-config --static --cflags zmoe) "$libdir/libzmoe.a" \
        $(pkg-config --static --libs-only-l --libs-only-other zmoe | sed 's/-lzmoe//') >"$tmp/cc.log" 2>&1; then
    echo "ok 3 - consumer links the installed static library"
else
    echo "not ok 3 - consumer links the installed static library"; sed 's/^/# /' "$tmp/cc.log"; exit 1
fi
status=0
LD_LIBRARY_PATH="$libdir" "$tmp/consumer" >"$tmp/run.log" 2>&1 || status=1
"$tmp/consumer_static" >>"$tmp/run.log" 2>&1 || status=1
sed 's/^/#   /' "$tmp/run.log"
if [ "$status" -eq 0 ]; then
    echo "ok 4 - both run one layer call on hostdev"
else
    echo "not ok 4 - both run one layer call on hostdev"; exit 1
fi
printf '#include <zmoe.h>\nint main() { zmoe_error e{}; return zmoe_config_validate(nullptr, &e) == ZMOE_OK; }\n' >"$tmp/cxx.cc"
if ${CXX:-c++} -std=c++17 -Wall -Wextra -Werror -fsyntax-only $(pkg-config --cflags zmoe) "$tmp/cxx.cc" >"$tmp/cxx.log" 2>&1; then
    echo "ok 5 - the installed zmoe.h compiles as C++17"
else
    echo "not ok 5 - the installed zmoe.h compiles as C++17"; sed 's/^/# /' "$tmp/cxx.log"; exit 1
fi
if ${CXX:-c++} -std=c++17 -Wall -Wextra -Werror ${ZMOE_CONSUMER_CFLAGS:-} "$src/../../examples/engine_share.cc" \
        -o "$tmp/engine_share" $(pkg-config --cflags --libs zmoe) >"$tmp/cxx.log" 2>&1 &&
        LD_LIBRARY_PATH="$libdir" "$tmp/engine_share" >"$tmp/engine.log" 2>&1; then
    sed 's/^/#   /' "$tmp/engine.log"
    echo "ok 6 - examples/engine_share.cc builds with the installed header (C++17) and runs on hostdev"
else
    sed 's/^/# /' "$tmp/cxx.log" "$tmp/engine.log" 2>/dev/null
    echo "not ok 6 - examples/engine_share.cc builds with the installed header (C++17) and runs on hostdev"; exit 1
fi
# The installed Python package: found under the destdir, its generated _install_paths.py
# names the install libdir; the library itself comes from the destdir (ZMOE_LIBRARY), and
# a numpy call runs unless the library is sanitized (python3 cannot load it then).
init=$(find "$tmp/root" -path '*/zmoe/__init__.py' | head -1)
site=$(dirname "$(dirname "$init")")
if [ -n "$init" ] && [ -f "$site/zmoe/_install_paths.py" ] && [ -n "${ZMOE_PYTHON:-}" ] &&
        PYTHONPATH="$site" ZMOE_LIBRARY="$libdir/libzmoe.so" ZMOE_SANITIZED="${ZMOE_CONSUMER_CFLAGS:-}" \
        "$ZMOE_PYTHON" - >"$tmp/py.log" 2>&1 <<'PY'
import os
import numpy as np
import zmoe
from zmoe import _install_paths
assert zmoe.__file__.startswith(os.environ["PYTHONPATH"]), zmoe.__file__
assert os.path.isabs(_install_paths.LIBDIR), _install_paths.LIBDIR
if not os.environ["ZMOE_SANITIZED"]:
    rng = np.random.default_rng(1)
    w13 = rng.standard_normal((4, 16, 32)).astype(np.float32)
    w2 = rng.standard_normal((4, 32, 8)).astype(np.float32)
    x = rng.standard_normal((2, 32)).astype(np.float32)
    y = zmoe.fused_experts(x, w13, w2, np.ones((2, 1), np.float32), np.array([[1], [3]], np.int32))
    def expert(e, v):
        g, u = np.split(w13[e] @ v, 2)
        return w2[e] @ (g / (1 + np.exp(-g)) * u)
    want = np.stack([expert(1, x[0]), expert(3, x[1])])
    assert np.abs(y - want).max() <= 1e-4 * np.abs(want).max(), np.abs(y - want).max()
    print("fused_experts through the installed package: ok")
PY
then
    sed 's/^/#   /' "$tmp/py.log"
    echo "ok 7 - the installed python package imports (and runs fused_experts) from site-packages"
else
    sed 's/^/# /' "$tmp/py.log" 2>/dev/null
    echo "not ok 7 - the installed python package imports (and runs fused_experts) from site-packages (ZMOE_PYTHON=${ZMOE_PYTHON:-unset})"; exit 1
fi
