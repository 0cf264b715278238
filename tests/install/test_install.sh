#!/bin/sh
# meson install into a scratch destdir, then build consumer.c against the installed
# zmoe.h + zmoe.pc (shared and static) and run it on hostdev. TAP output.
#   test_install.sh BUILD_DIR SOURCE_DIR
set -u
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "TAP version 13"
echo "1..5"
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
