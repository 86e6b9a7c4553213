#!/usr/bin/env bash
# clang-tidy (.clang-tidy) over Kiwi's sources in the `ci` preset's compile_commands.json:
# common/, daemon/, worker/, cli/ and bench/, with their headers. Fails on any finding.
#   scripts/tidy.sh                 every source file, two at a time
#   scripts/tidy.sh --changed [REF] only sources changed since REF (git diff), and the sources
#                                   including a changed header of theirs; REF by default: where
#                                   this branch left main, or on main the last commit's parent
#   scripts/tidy.sh --since-clean   --changed since the commit named in .clang-tidy-clean, the
#                                   last one at which the whole tree passed (CI's run)
# A full run takes ~15-25 min of CPU (2-30 s a file), too long for every CI run: scripts/test.sh
# runs --since-clean. After a whole run passes, write its commit into .clang-tidy-clean
# (scripts/tidy.sh --mark-clean does both), and always after changing .clang-tidy.
# Unit tests (tests/unit) are not checked: doctest's macros expand into code the checks flag.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --preset ci >/dev/null  # compile_commands.json and the generated headers; no build

dirs='common|daemon|worker|cli|bench'
files=("^$PWD/($dirs)/")
mark_clean=0
case ${1:-} in
  --since-clean)
    clean=$(grep -Eo '^[0-9a-f]{40}' .clang-tidy-clean || true)
    if [[ -n $clean ]] && git cat-file -e "$clean^{commit}" 2>/dev/null; then
      set -- --changed "$clean"
    else
      echo "== tidy: .clang-tidy-clean names no commit of this clone: checking the whole tree"
      set --
    fi ;;
  --mark-clean) mark_clean=1; set -- ;;
esac
if [[ ${1:-} == --changed ]]; then
  base=${2:-}
  if [[ -z $base ]]; then
    base=$(git merge-base HEAD main 2>/dev/null || true)
    if [[ -z $base || $base == "$(git rev-parse HEAD)" ]]; then
      base=HEAD~1
    fi
  fi
  changed=$(git diff --name-only "$base" -- common daemon worker cli bench | grep -E '\.(c|h)pp$' || true)
  if [[ -z $changed ]]; then
    echo "== tidy: no C++ source changed since $base"
    exit 0
  fi
  files=()
  for f in $changed; do
    case $f in
      *.cpp) [[ -e $f ]] && files+=("^$PWD/$f\$") ;;
      # A header: the sources that include it.
      *.hpp) while read -r s; do files+=("^$PWD/$s\$"); done < <(
               grep -rlF "#include \"$f\"" common daemon worker cli bench --include=*.cpp || true) ;;
    esac
  done
  [[ ${#files[@]} -gt 0 ]] || { echo "== tidy: nothing to check"; exit 0; }
  mapfile -t files < <(printf '%s\n' "${files[@]}" | sort -u)
fi

log=build/ci/clang-tidy.log
start=$(date +%s)
# -Wno-unknown-warning-option: the database holds GCC's flags (-Wno-mismatched-new-delete);
# -Wno-missing-field-initializers: libgit2's GIT_*_INIT macros (.clang-tidy says more).
code=0
run-clang-tidy -p build/ci -j 2 -quiet -extra-arg=-Wno-unknown-warning-option \
  -extra-arg=-Wno-missing-field-initializers \
  -header-filter="^$PWD/($dirs|fuzz)/" "${files[@]}" >"$log" 2>&1 || code=$?
# run-clang-tidy prints each file's command; what matters are the findings.
sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E ': (error|warning): ' | sort -u || true
echo "== tidy: ${#files[@]} pattern(s), $(( $(date +%s) - start )) s, exit code $code (log: $log)"
if [[ $mark_clean == 1 && $code == 0 ]]; then
  if [[ -n $(git status --porcelain -- common daemon worker cli bench fuzz .clang-tidy) ]]; then
    echo "== tidy: the tree has uncommitted changes: .clang-tidy-clean not updated"
  else
    git rev-parse HEAD >.clang-tidy-clean
    echo "== tidy: the whole tree passed at $(git rev-parse --short HEAD): written to .clang-tidy-clean (commit it)"
  fi
fi
exit "$code"
