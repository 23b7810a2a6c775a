# npm_install.sh - sourced by memlab.sh and pprof.sh: install memlab and
# pprof-format from the npm registry into $npmdir once (Puppeteer's browser
# download skipped: only memlab's heap parser is used).  Without node and
# npm, or when the registry cannot be reached, say so and exit 77 (CTest:
# skipped); any other failure exits 1.
MEMLAB_VERSION=2.0.5
PPROF_FORMAT_VERSION=2.3.2
mods=$npmdir/node_modules
if [ ! -f "$mods/@memlab/heap-analysis/package.json" ] || [ ! -f "$mods/pprof-format/package.json" ]; then
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "SKIPPED: node and npm are not installed (Debian packages nodejs, npm): cannot install memlab and pprof-format"
    exit 77
  fi
  tmp=$npmdir.tmp.$$
  rm -rf "$tmp" && mkdir -p "$tmp" || exit 1
  echo "installing memlab $MEMLAB_VERSION and pprof-format $PPROF_FORMAT_VERSION from the npm registry into $npmdir ..."
  if ! (cd "$tmp" && PUPPETEER_SKIP_DOWNLOAD=1 npm install --no-audit --no-fund \
          --loglevel=error "memlab@$MEMLAB_VERSION" "pprof-format@$PPROF_FORMAT_VERSION" >install.log 2>&1); then
    if grep -Eq 'ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ENETUNREACH' "$tmp/install.log"; then
      echo "SKIPPED: the npm registry cannot be reached; nothing was installed:"
      tail -3 "$tmp/install.log"
      rm -rf "$tmp"
      exit 77
    fi
    cat "$tmp/install.log"
    rm -rf "$tmp"
    exit 1
  fi
  rm -rf "$npmdir" && mv "$tmp" "$npmdir" || exit 1
fi
