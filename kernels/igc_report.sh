#!/bin/sh
# Static evidence for Intel GPUs: compile every kernel of the modules listed in
# kernels/meson.build (kernel_modules) with ocloc for each AOT target, with IGC's shader
# dumps on, and report per kernel and target the SIMD width, the GRF count, the spill
# bytes (must be 0) and the load messages of the kernel's innermost loops.
#
#   sh kernels/igc_report.sh            rewrite the table in kernels/README.md, TSV to stdout
#   sh kernels/igc_report.sh --check    README untouched; markdown table to stdout
#   options: --targets tgllp,acm-g10,pvc   --readme FILE    (OCLOC=path overrides ocloc)
#            --source FILE.cl   report on FILE alone (build options, no extra -D) instead of
#                               kernel_modules; implies --check
#
# Exit status 1 when ocloc is missing or fails, when a kernel spills registers, when a
# kernel has no SIMD width or no assembly in the dump, or when the targets disagree on
# the kernel list. Private memory (scratch that is not a spill) is reported, not an error.
#
# What IGC (1.0.12504, intel-opencl-icd 22.43) writes with IGC_ShaderDumpEnable=1 and
# IGC_DumpToCustomDir=DIR, per compiled kernel:
#   OCL_asm<hash>[_<pass>]_simd<N>_entry_<NNNN>.asm: final ISA. Header lines:
#       "//.kernel NAME", "//.platform P", "//.thread_config numGRF=N, ...",
#       "//.spill size N" (only when spilling), "//.private memory size N" (only with
#       private memory in scratch).
#       <N> is the dispatch SIMD width, <NNNN> the kernel's order in the source, <pass> > 0
#       when IGC recompiled the module (its retry after a spill).
#   same name .cos   patch tokens: "Kernel Name = NAME", "LargestCompiledSIMDSize = N",
#       "NumGRFRequired = N", "PerThreadScratchSpace = N" (spills + private memory),
#       "PerThreadPrivateMemorySize= N".
#   A kernel may have several .asm (a SIMD width tried, a retry pass); the .cos of the
#   last pass names the SIMD width that was kept.
# Loads in the .asm: HDC sends (tgllp, and acm-g10's payload prolog) carry a comment
#   "send.dc1 (16|M0) ... // wr:2+0, rd:8; untyped surface read with xyzw"; bytes per
#   lane = rd * GRF bytes / exec size (byte gathers: the "Nb" of the comment; A64 dword
#   gathers: 4 << descriptor bits 11:10 bytes); BTI 0xFE in the descriptor's low byte is SLM.
#   LSC (acm-g10, pvc) prints the message as the mnemonic: load.ugm.d32x4.a64 = 4 dwords
#   per lane (16 B/lane), d16u32 = 2 B per lane, a trailing "t" (d32x16t) = transposed,
#   i.e. one block for the whole message. Spill fills are "scratch space fill" sends.
# Loops: a branch (while, goto, goto.b, jmpi) to a label defined above it closes a loop
# from that label; the innermost loops are those that contain no other loop.
set -eu

me=igc_report.sh
here=$(cd "$(dirname "$0")" && pwd)
readme=$here/README.md
default_targets=tgllp,acm-g10,pvc
targets=$default_targets
mode=write
source=
begin='<!-- igc-report:begin -->'
end='<!-- igc-report:end -->'

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case $1 in
        --check) mode=check ;;
        --targets) [ $# -ge 2 ] || { usage >&2; exit 2; }; targets=$2; shift ;;
        --targets=*) targets=${1#*=} ;;
        --readme) [ $# -ge 2 ] || { usage >&2; exit 2; }; readme=$2; shift ;;
        --readme=*) readme=${1#*=} ;;
        --source) [ $# -ge 2 ] || { usage >&2; exit 2; }; source=$2; mode=check; shift ;;
        --source=*) source=${1#*=}; mode=check ;;
        -h|--help) usage; exit 0 ;;
        *) echo "$me: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

die() { echo "$me: $*" >&2; exit 1; }

ocloc=${OCLOC:-ocloc}
case $ocloc in */*) ;; *) ocloc=$(command -v "$ocloc" || true) ;; esac
[ -n "$ocloc" ] && [ -x "$ocloc" ] ||
    die "ocloc not found (Debian package intel-opencl-icd); install it or set OCLOC=/path/to/ocloc"
command -v awk >/dev/null 2>&1 || die "awk not found"

# The build's options: ocloc.sh passes -options "<prefix>$options", the module's extra
# options come from kernel_modules in meson.build.
prefix=$(sed -n 's/.*-options "\([^"$]*\)\$options".*/\1/p' "$here/ocloc.sh" | head -n 1)
[ -n "$prefix" ] || die "cannot find the -options \"...\$options\" of $here/ocloc.sh; update $me"
if [ -n "$source" ]; then
    [ -f "$source" ] || die "$source not found"
    case $source in /*) ;; *) source=$(pwd)/$source ;; esac
    modules=$(printf '%s\t%s\t' "$(basename "$source" .cl)" "$source")
else
    modules=$(awk '
        /^kernel_modules *= *\[/ { on = 1; next }
        on && /^\]/ { exit }
        on && /^[ \t]*\[ *'\''[^'\'']*'\'' *, *'\''[^'\'']*'\'' *, *'\''[^'\'']*'\'' *\] *,?[ \t]*$/ {
            n = split($0, f, "'\''"); print f[2] "\t" f[4] "\t" f[6]
        }' "$here/meson.build")
fi
[ -n "$modules" ] || die "no entries found in kernel_modules of $here/meson.build; update $me"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/igc_report.XXXXXX")
running=
trap 'for j in $running; do kill "${j%%:*}" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

version=$( (cd "$tmp" && "$ocloc" query OCL_DRIVER_VERSION >/dev/null 2>&1 &&
    tr -d '\000' <OCL_DRIVER_VERSION) 2>/dev/null || true)
igc=$(dpkg-query -W -f '${Version}' libigc1 2>/dev/null | sed 's/-.*//' || true)

# The parser: reads one dump directory's .cos and .asm files, prints one TSV row per
# kernel: order, kernel, simd, grf, spill_bytes, scratch_bytes, private_bytes, loads.
parse='
function pass_of(f,   m) {
    if (match(f, /_[0-9]+_simd[0-9]+_entry_/)) {
        m = substr(f, RSTART + 1); sub(/_.*/, "", m); return m + 0
    }
    return 0
}
function simd_of(f,   m) {
    if (!match(f, /_simd[0-9]+_/)) return 0
    m = substr(f, RSTART + 5, RLENGTH - 6); return m + 0
}
function entry_of(f,   m) {
    if (!match(f, /_entry_[0-9]+\./)) return 0
    m = substr(f, RSTART + 7, RLENGTH - 8); return m + 0
}
# Short name and bytes of one load; sets LB (bytes), LU ("lane" or "block"), LS (space).
function lsc_kind(mn,   n, p, i, dt, sz, vec, tr) {
    n = split(mn, p, ".")
    LS = p[2]; dt = ""; tr = 0; vec = 1; sz = 0
    for (i = 3; i <= n; i++) if (p[i] ~ /^d(8|16|32|64)/) { dt = p[i]; break }
    if (dt == "") { LB = 0; LU = "?"; return mn }
    if (dt ~ /t$/) { tr = 1 }
    sz = dt; sub(/^d/, "", sz); sub(/[^0-9].*/, "", sz); sz = sz / 8
    if (match(dt, /x[0-9]+/)) vec = substr(dt, RSTART + 1, RLENGTH - 1) + 0
    LB = sz * vec; LU = tr ? "block" : "lane"
    kind = p[2] " " dt
    for (i = 3; i <= n; i++) if (p[i] ~ /^a(16|32|64)$/) kind = kind " " p[i]
    return kind
}
function hdc_kind(line, exec, grfb,   t, rd, desc, bti, nb) {
    t = ""
    if (match(line, /rd:[0-9]+; [^\/]*/)) t = substr(line, RSTART, RLENGTH)
    sub(/^rd:[0-9]+; /, "", t); sub(/ +$/, "", t)
    if (line ~ /scratch space fill/) t = t " (spill fill)"
    rd = line; sub(/.*rd:/, "", rd); sub(/[^0-9].*/, "", rd); rd += 0
    desc = ""
    if (match(line, /0x[0-9A-Fa-f]+ +\{/)) desc = substr(line, RSTART, RLENGTH)
    else if (match(line, /0x[0-9A-Fa-f]+ +\/\//)) desc = substr(line, RSTART, RLENGTH)
    bti = desc; sub(/ .*/, "", bti); bti = toupper(substr(bti, length(bti) - 1))
    LS = (t ~ /a64/) ? "global" : (bti == "FE" ? "slm" : "surface")
    if (t ~ /block read/) {
        nb = t; sub(/.*x/, "", nb); nb += 0
        LB = (t ~ /hword/ ? 32 : 16) * nb; LU = "block"
    } else if (t ~ /a64 dword gathering/ && length(bti) == 2) {
        # A64 scattered read: descriptor bits 11:10 = dwords per lane (1, 2, 4, 8)
        nb = desc; sub(/ .*/, "", nb); nb = toupper(substr(nb, length(nb) - 2, 1))
        nb = index("0123456789ABCDEF", nb) - 1
        LB = 4 * 2 ^ (int(nb / 4) % 4); LU = "lane"
    } else if (match(t, /gathering read [0-9]+b/)) {
        nb = substr(t, RSTART + 15, RLENGTH - 16); LB = nb / 8; LU = "lane"
    } else {
        LB = exec > 0 ? rd * grfb / exec : 0; LU = "lane"
    }
    gsub(/ surface read/, "", t); gsub(/ gathering read/, " gather", t)
    gsub(/ aligned block read/, " block", t); gsub(/ read/, "", t); gsub(/with /, "", t)
    if (LS == "slm") t = "slm " t
    return t
}
# "3x kind (16 B/lane), 1x ..." for the loads D_at in (s, e), widest first.
function loads_in(s, e,   k, nk, key, cnt, order, kb, i, j, t, str) {
    nk = 0
    for (k = 1; k <= nld; k++) {
        if (D_at[k] <= s || D_at[k] >= e) continue
        key = D_kind[k]
        if (!(key in cnt)) { nk++; order[nk] = key; cnt[key] = 0; kb[key] = D_b[k] }
        cnt[key]++
    }
    for (i = 2; i <= nk; i++)
        for (j = i; j > 1; j--) {
            if (kb[order[j]] > kb[order[j - 1]] ||
                (kb[order[j]] == kb[order[j - 1]] && order[j] < order[j - 1])) {
                t = order[j]; order[j] = order[j - 1]; order[j - 1] = t
            } else break
        }
    str = ""
    for (k = 1; k <= nk; k++) str = str (k > 1 ? ", " : "") cnt[order[k]] "x " order[k]
    return str
}
function flush(   i, j, s, e, inner, out, lp, str, ng, g_str, g_ids, n) {
    if (cur == "") return
    na++
    A_k[na] = kname; A_simd[na] = simd_of(cur); A_pass[na] = pass_of(cur)
    A_entry[na] = entry_of(cur); A_grf[na] = grf; A_spill[na] = spill; A_priv[na] = priv
    # loops: per start label, the last back edge that reaches it
    nl = 0
    for (i = 1; i <= nb; i++) {
        s = B_to[i]; e = B_at[i]
        if (!(s in L_end)) { nl++; L_s[nl] = s; L_end[s] = e } else if (e > L_end[s]) L_end[s] = e
    }
    # innermost loops with loads, identical ones merged: "[1,2] ... / [3] ..."
    lp = 0; ng = 0
    for (i = 1; i <= nl; i++) {
        s = L_s[i]; e = L_end[s]; inner = 1
        for (j = 1; j <= nl; j++)
            if (j != i && L_s[j] >= s && L_end[L_s[j]] <= e) { inner = 0; break }
        if (!inner) continue
        str = loads_in(s, e)
        if (str == "") continue
        lp++
        for (j = 1; j <= ng; j++) if (g_str[j] == str) break
        if (j > ng) { ng++; g_str[ng] = str; g_ids[ng] = lp } else g_ids[j] = g_ids[j] "," lp
    }
    out = ""
    for (j = 1; j <= ng; j++) out = out (j > 1 ? " / " : "") "[" g_ids[j] "] " g_str[j]
    if (lp == 0) {
        str = loads_in(0, FNR + 1e9)
        out = (nl > 0 ? "loops without loads; " : "no loop; ") (str != "" ? "loads: " str : "no loads")
    }
    A_loads[na] = out
    split("", L_end); split("", L_s); split("", lab)
    cur = ""
}
FNR == 1 { flush(); if (FILENAME ~ /\.asm$/) start_asm(); else start_cos() }
function start_asm() {
    cur = FILENAME; kname = ""; grf = 0; spill = 0; priv = 0; grfb = 32
    nb = 0; nld = 0; n = 0
}
function start_cos() { ck = ""; cp = pass_of(FILENAME) }
FILENAME ~ /\.cos$/ {
    if (ck == "" && match($0, /Kernel Name = [^ *]+/)) {
        ck = substr($0, RSTART + 14, RLENGTH - 14)
        if ((ck in C_pass) && C_pass[ck] > cp) { ck = "-" } else { C_pass[ck] = cp; C_scr[ck] = 0; C_priv[ck] = 0 }
        next
    }
    if (ck == "" || ck == "-") next
    if ($1 == "LargestCompiledSIMDSize") C_simd[ck] = $3 + 0
    else if ($1 == "NumGRFRequired") C_grf[ck] = $3 + 0
    else if ($1 == "PerThreadScratchSpace") C_scr[ck] = $3 + 0
    else if ($1 == "PerThreadPrivateMemorySize=") C_priv[ck] = $2 + 0
    next
}
FILENAME !~ /\.asm$/ { next }
/^\/\/\.kernel / { kname = $2; next }
/^\/\/\.platform / { if ($2 ~ /^(PVC|XE2|LNL|BMG|XE3)/) grfb = 64; next }
/^\/\/\.thread_config / { if (match($0, /numGRF=[0-9]+/)) grf = substr($0, RSTART + 7, RLENGTH - 7) + 0; next }
/^\/\/\.spill size / { spill = $3 + 0; next }
/^\/\/\.private memory size / { priv = $4 + 0; next }
/^(\/\/ )?_main:$/ { nld = 0; next }   # loads before it: the payload prolog
/^\/\// { next }
/^[A-Za-z_][A-Za-z0-9_]*:$/ { l = $0; sub(/:$/, "", l); lab[l] = FNR; next }
{
    op = $1; i = 1
    if (op ~ /^\(/) { i = 2; op = $2 }
    base = op; sub(/\..*/, "", base)
    if (base == "while" || base == "goto" || base == "jmpi" || base == "brc" || base == "brd") {
        for (j = i + 1; j <= NF && $j !~ /^\/\//; j++)
            if (($j in lab) && lab[$j] < FNR) { nb++; B_to[nb] = lab[$j]; B_at[nb] = FNR }
        next
    }
    exec = 0
    if (match($0, /\([0-9]+\|M[0-9]+\)/)) { exec = substr($0, RSTART + 1, RLENGTH - 1); sub(/\|.*/, "", exec); exec += 0 }
    if (base ~ /^load/) {
        k = lsc_kind(op)
        if (base != "load" && match($0, /\) +r[0-9]+:[0-9]+/)) {
            # e.g. load_block2d: a block of the destination size
            d = substr($0, RSTART, RLENGTH); sub(/.*:/, "", d)
            k = op; sub(/\.(ca|uc|st|wb|wt|cc|ri|wp)(\.(ca|uc|st|wb|wt|cc|ri|wp))*$/, "", k)
            LB = d * grfb; LU = "block"
        }
        if ($0 ~ /scratch space fill/) k = k " (spill fill)"
    } else if (base ~ /^send/ && $0 ~ /rd:[1-9]/ && $0 ~ /; [^\/]*(read|load)/) {
        k = hdc_kind($0, exec, grfb)
    } else next
    if (LB == int(LB)) b = LB; else b = sprintf("%.1f", LB)
    if (LU == "lane" && exec == 1) u = " B, 1 lane"; else u = (LU == "block") ? " B block" : " B/" LU
    nld++; D_at[nld] = FNR; D_kind[nld] = k " (" b u ")"; D_b[nld] = LB
}
END {
    flush()
    for (i = 1; i <= na; i++) {
        k = A_k[i]
        if (k == "") { print "no //.kernel header in an .asm file" > "/dev/stderr"; bad = 1; continue }
        want = (k in C_simd) ? C_simd[k] : 0
        if (want && A_simd[i] != want) continue
        if (!(k in best) || A_pass[i] > A_pass[best[k]] ||
            (A_pass[i] == A_pass[best[k]] && A_simd[i] > A_simd[best[k]])) best[k] = i
    }
    for (k in C_simd) if (!(k in best)) {
        printf "%s: no .asm with SIMD%d in the dump\n", k, C_simd[k] > "/dev/stderr"; bad = 1
    }
    for (k in best) {
        i = best[k]
        simd = (k in C_simd) ? C_simd[k] : A_simd[i]
        grfn = A_grf[i] ? A_grf[i] : ((k in C_grf) ? C_grf[k] : 0)
        printf "%d\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", A_entry[i], k, simd, grfn, A_spill[i], \
            (k in C_scr) ? C_scr[k] : 0, A_priv[i] ? A_priv[i] : ((k in C_priv) ? C_priv[k] : 0), A_loads[i]
    }
    exit bad
}'

tsv=$tmp/report.tsv
printf 'kernel\ttarget\tsimd\tgrf\tspill_bytes\tprivate_bytes\tscratch_bytes\tinner_loop_loads\n' >"$tsv"
: >"$tmp/rows"
status=0
printf '%s\n' "$modules" >"$tmp/modules"

# Compile: one ocloc per module and target, as many at a time as there are CPUs
# (IGC_REPORT_JOBS overrides), each with its own dump directory.
jobs=${IGC_REPORT_JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)}
case $jobs in ''|*[!0-9]*|0) jobs=1 ;; esac
n=0
drain() {
    for j in $running; do
        st=0; wait "${j%%:*}" || st=$?; echo "$st" >"$tmp/st.${j#*:}"
    done
    running=; n=0
}
for t in $(echo "$targets" | tr ',' ' '); do
    while IFS=$(printf '\t') read -r mod src opts; do
        case $src in /*) ;; *) src=$here/$src ;; esac
        [ -f "$src" ] || die "$src (module $mod) not found"
        IGC_ShaderDumpEnable=1 IGC_DumpToCustomDir=$tmp/dump.$mod.$t/ \
            "$ocloc" compile -file "$src" -device "$t" -options "$prefix$opts" \
            -output_no_suffix -output out -out_dir "$tmp/out.$mod.$t" \
            </dev/null >"$tmp/log.$mod.$t" 2>&1 &
        running="$running $!:$mod.$t"; n=$((n + 1))
        [ "$n" -lt "$jobs" ] || drain
    done <"$tmp/modules"
done
drain

# Parse, in order.
for t in $(echo "$targets" | tr ',' ' '); do
    while IFS=$(printf '\t') read -r mod src opts; do
        dump=$tmp/dump.$mod.$t
        log=$tmp/log.$mod.$t
        case $src in /*) ;; *) src=$here/$src ;; esac
        st=$(cat "$tmp/st.$mod.$t")
        if [ "$st" -ne 0 ]; then
            grep -v -e 'ShaderDumpEnable Warning' -e '^$' "$log" |
                sed -e "s#^[0-9][0-9]*:\([0-9][0-9]*:[0-9][0-9]*:\)#$src:\1#" >&2 || true
            die "ocloc failed for target $t ($src, module $mod) with status $st"
        fi
        ls "$dump"/*.asm >/dev/null 2>&1 ||
            die "no .asm in IGC's dump for target $t ($src); IGC_ShaderDumpEnable not honoured?"
        st=0
        awk "$parse" "$dump"/*.cos "$dump"/*.asm >"$tmp/k.$mod.$t" || st=$?
        [ "$st" -eq 0 ] || die "could not parse IGC's dump for target $t ($src)"
        [ -s "$tmp/k.$mod.$t" ] || die "no kernels found in IGC's dump for target $t ($src)"
        if grep -qi 'spill' "$log" &&
            ! awk -F'\t' '$5 > 0 { f = 1 } END { exit !f }' "$tmp/k.$mod.$t"; then
            grep -i spill "$log" >&2
            die "ocloc reports spills for $t that the dump does not show; check $me's parsing"
        fi
        sort -n "$tmp/k.$mod.$t" | awk -F'\t' -v OFS='\t' -v t="$t" -v mod="$mod" \
            '{ print mod, $1, $2, t, $3, $4, $5, $6, $7, $8 }' >>"$tmp/rows"
        cut -f2 "$tmp/k.$mod.$t" | sort >"$tmp/names.$mod.$t"
        if [ -f "$tmp/names.$mod" ]; then
            cmp -s "$tmp/names.$mod" "$tmp/names.$mod.$t" ||
                die "module $mod: targets disagree on the kernel list ($t)"
        else
            cp "$tmp/names.$mod.$t" "$tmp/names.$mod"
        fi
        rm -rf "$dump" "$tmp/out.$mod.$t"
    done <"$tmp/modules"
done

# Rows in source order (module, entry), targets in the order given.
tl=$(echo "$targets" | tr ',' ' ')
awk -F'\t' -v OFS='\t' -v tl="$tl" 'BEGIN { n = split(tl, a, " "); for (i = 1; i <= n; i++) r[a[i]] = i }
    { print $1, $2, r[$4], $0 }' "$tmp/rows" | sort -t "$(printf '\t')" -k1,1 -k2,2n -k3,3n |
    cut -f4- >"$tmp/sorted"

awk -F'\t' -v OFS='\t' '{ print $3, $4, $5, $6, $7, $9, $8, $10 }' "$tmp/sorted" >>"$tsv"

# Checks: a SIMD width, no spill.
awk -F'\t' -v me="$me" '
    $5 + 0 == 0 { printf "%s: %s on %s has no SIMD width\n", me, $3, $4 > "/dev/stderr"; bad = 1 }
    $7 + 0 > 0 { printf "%s: %s on %s spills %d bytes\n", me, $3, $4, $7 > "/dev/stderr"; bad = 1 }
    END { exit bad }' "$tmp/sorted" || status=1

{
    echo "$begin"
    echo "Generated by \`sh kernels/igc_report.sh\` (ocloc ${version:-?}${igc:+, IGC $igc}; the build's"
    echo "options \`$prefix\`). SIMD: dispatch width; GRF: registers per thread (128 normal, 256"
    echo "large-GRF mode); spill: bytes of registers spilled per thread (must be 0); private:"
    echo "bytes of private memory per thread in scratch (arrays indexed at run time). Loads: the"
    echo "load messages of each innermost loop ([n], in code order; identical loops merged) with"
    echo "how often they occur and their width per lane or per message (block); SIMD32 code"
    echo "issues each message as two SIMD16 halves on tgllp and acm-g10. \`ugm\`/\`slm\`: LSC"
    echo "global/shared local memory; \`d32x4\`: four dwords per lane; \`d16u32\`: 2 bytes per"
    echo "lane; \`t\`: transposed (block) message; \`a64\`/\`a32\`: 64-bit stateless / 32-bit"
    echo "surface addresses; tgllp's HDC messages are named as IGC prints them (\`untyped xyzw\`:"
    echo "4 channels per lane; \`byte gather 32b\`: 4 bytes per lane, any alignment)."
    echo
    echo "| kernel | target | SIMD | GRF | spill | private | inner-loop loads |"
    echo "| --- | --- | ---: | ---: | ---: | ---: | --- |"
    awk -F'\t' '{ printf "| `%s` | %s | %d | %d | %d | %d | %s |\n", $3, $4, $5, $6, $7, $9, $10 }' "$tmp/sorted"
    echo "$end"
} >"$tmp/section"

stale=0
if [ -n "$source" ] || { [ "$mode" = check ] && [ "$targets" != "$default_targets" ]; }; then
    :   # nothing to compare with
elif [ -f "$readme" ] && grep -qF "$begin" "$readme" && grep -qF "$end" "$readme"; then
    awk -v b="$begin" -v e="$end" '$0 == b { on = 1 } on { print } $0 == e { on = 0 }' "$readme" >"$tmp/old"
    cmp -s "$tmp/old" "$tmp/section" || stale=1
else
    [ "$mode" = check ] || die "$readme has no '$begin' ... '$end' lines to write the table between"
    stale=1
fi

if [ "$mode" = check ]; then
    sed -e '1d' -e '$d' "$tmp/section"
    [ "$stale" -eq 0 ] || echo "$me: note: the table in $readme is out of date; run sh kernels/igc_report.sh" >&2
else
    if [ "$stale" -eq 1 ]; then
        awk -v b="$begin" -v e="$end" -v f="$tmp/section" '
            $0 == b { while ((getline l < f) > 0) print l; skip = 1; next }
            skip && $0 == e { skip = 0; next }
            !skip { print }' "$readme" >"$tmp/readme"
        cat "$tmp/readme" >"$readme"
        echo "$me: updated $readme" >&2
    fi
    cat "$tsv"
fi
[ "$status" -eq 0 ] || die "spills or missing SIMD widths (see above)"
