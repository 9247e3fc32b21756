#!/usr/bin/env bash
# make_paper.sh [--figures]: the reproduction report of ONE profile,
# paper/REPORT-$PROFILE.md, from the results database alone.
#
# It first rebuilds, with `bfn table`, every table of paper/reference/*.tsv
# (tables 1-5 and the schedule comparisons) from the runs of $PROFILE into
# paper/tables/$PROFILE/ (a table whose runs are missing is not written, and
# the reason is reported), then writes the report embedding only the tables
# it has just built. Every number in it comes from a run of this profile in
# this database, named by its run key. A smoke run therefore never touches
# the committed small outputs, and a report never mixes sources.
#   --figures  first draw every figure (bash analysis/figures.sh all)
#
# Per spec the report says what was run (experiment, profile, dataset from
# the run's config, run key, steps trained, status, NLL at n = ∞), includes
# the table with its "claims" section, links the figures in plots/, and gives
# each run's provenance (git commit, library versions, host, threads, seed).
# Experiments of this profile that belong to no table get the same under
# "Other experiments". No timestamps: the same database and plots give a
# byte-identical report. With no runs of $PROFILE it stops and names the
# profiles that have runs.
#
# Environment: BFN (default build/bfn), BFN_DB (default results/bfn.db), PLOTS
# (default plots), PAPER (default paper), PROFILE (default small).
set -euo pipefail
export LC_ALL=C
BFN=${BFN:-build/bfn}
DB=${BFN_DB:-results/bfn.db}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PAPER=${PAPER:-$(cd "$here/.." && pwd)/paper}
PLOTS=${PLOTS:-$(cd "$here/.." && pwd)/plots}
PROFILE=${PROFILE:-small}
case "$PROFILE" in *[!A-Za-z0-9_-]*|"") echo "make_paper: bad profile name '$PROFILE'" >&2; exit 2 ;; esac
OUT="$PAPER/REPORT-$PROFILE.md"
TABLES="$PAPER/tables/$PROFILE"
die() { echo "make_paper: $*" >&2; exit 1; }

do_figures=0
for a in "$@"; do
    case "$a" in
        --tables) ;; # always: the report embeds only tables built now
        --figures) do_figures=1 ;;
        *) die "usage: PROFILE=P bash analysis/make_paper.sh [--figures]" ;;
    esac
done
[ -f "$DB" ] || die "no database at $DB; run an experiment first (e.g. make table2)"
[ -x "$BFN" ] || die "$BFN not found; build it with 'make build/bfn'"

# The database is read through `bfn query NAME` only (named store queries,
# TSV with a header row; no SQL here). cols NAME... prints those columns of
# such a TSV (stdin) by header name, without the header.
query() { BFN_DB="$DB" "$BFN" query "$@"; }
cols() {
    awk -F'\t' -v want="$*" 'BEGIN { OFS = "\t"; n = split(want, w, " ") }
        NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; for (j = 1; j <= n; j++) if (!(w[j] in c)) exit 3; next }
        { line = $c[w[1]]; for (j = 2; j <= n; j++) line = line OFS $c[w[j]]; print line }'
}
profiles=$(query profiles | cols profile runs) || die "bfn query profiles failed"
n_runs=$(printf '%s\n' "$profiles" | awk -F'\t' -v p="$PROFILE" '$1 == p { print $2 }')
if [ -z "$n_runs" ]; then
    others=$(printf '%s\n' "$profiles" | awk -F'\t' 'NF { print $1 " (" $2 " runs)" }' | paste -sd, - | sed 's/,/, /g')
    die "no runs of profile '$PROFILE' in $DB; profiles with runs: ${others:-none}. Run e.g. make paper PROFILE=NAME"
fi
# The runs of this profile, ordered by experiment then key: key, experiment,
# profile, status, steps (last train.loss step), nll (newest test NLL at
# n = inf), provenance, and names (the experiment and its aliases: experiments
# with equal settings share one run, registered under the first name).
RUN_COLS="key experiment profile status steps nll git_commit git_dirty lib_versions host threads seed names"
profile_runs=$(query runs --profile "$PROFILE" | cols $RUN_COLS) || die "bfn query runs failed"
md_cell() { printf '%s' "$1" | sed 's/|/\\|/g'; }   # escape | inside a Markdown table cell

# Experiment names a spec uses, in order, each once: "#! column EXP LABEL" (tables
# against n) and "#! ours VALUE EXP LABEL" (comparison tables).
spec_columns() {
    awk -F'\t' '$1 == "#!" && $2 == "column" { e = $3 } $1 == "#!" && $2 == "ours" { e = $4 }
                e != "" && !seen[e]++ { print e } { e = "" }' "$1"
}
spec_field() { awk -F'\t' -v k="$2" '$1 == "#!" && $2 == k { print $3; exit }' "$1"; }

# Output name of a spec's table: tableN.md; the schedule specs keep the
# names their make target writes.
table_out() {
    case "$1" in
        schedules) echo schedules_mnist ;;
        schedules_img) echo schedules_img16 ;;
        *) echo "$1" ;;
    esac
}

# ---- tables of this profile, built now -------------------------------------------------
mkdir -p "$TABLES"
built_dir=$(mktemp -d)
declare -A built=() why=()
for spec in "$PAPER"/reference/*.tsv; do
    [ -e "$spec" ] || continue
    name=$(basename "$spec" .tsv)
    out=$(table_out "$name")
    # bfn table names what is missing (and the make target producing it).
    if msg=$(BFN_DB="$DB" "$BFN" table "$spec" --profile "$PROFILE" --out "$built_dir/$out.md" 2>&1); then
        mv -f "$built_dir/$out.md" "$TABLES/$out.md"
        [ -f "$built_dir/$out.tex" ] && mv -f "$built_dir/$out.tex" "$TABLES/$out.tex"
        built[$name]=1
    else
        why[$name]=${msg#bfn: }
        echo "make_paper: $name not built for $PROFILE: ${why[$name]}" >&2
    fi
done
rm -rf "$built_dir"
if [ "$do_figures" = 1 ]; then
    BFN="$BFN" BFN_DB="$DB" PLOTS="$PLOTS" PAPER="$PAPER" PROFILE="$PROFILE" bash "$here/figures.sh" all
fi

# ---- the report ---------------------------------------------------------------------------
rel=$(realpath -m --relative-to="$PAPER" "$PLOTS")
mkdir -p "$PAPER"
tmp=$(mktemp "$OUT.XXXXXX")
trap 'rm -f "$tmp"' EXIT
exec 3> "$tmp"
w() { printf '%s\n' "$@" >&3; }
safe() { printf '%s' "$1" | tr -c 'A-Za-z0-9_.-' '_'; }

# Link to plots/FILE if it exists: "[label](rel/FILE)".
fig_link() {
    if [ -f "$PLOTS/$2" ]; then printf '[%s](%s/%s)' "$1" "$rel" "$2"; fi
}

# Rows of $profile_runs selected by $1: "named LIST" (runs answering to an
# experiment of the space-separated LIST, by name or alias) or "other LIST"
# (runs whose experiment is not in LIST).
select_runs() {
    printf '%s\n' "$profile_runs" | awk -F'\t' -v mode="$1" -v list="$2" '
        BEGIN { n = split(list, l, " "); for (i = 1; i <= n; i++) in_list[l[i]] = 1 }
        NF == 0 { next }
        mode == "other" { if (!($2 in in_list)) print; next }
        { m = split($13, names, " "); for (i = 1; i <= m; i++) if (names[i] in in_list) { print; next } }'
}

# "What was run": one row per run selected by $1 $2 (select_runs); $3 is the
# generated table's Markdown (its runs are marked "in the table"), or "".
runs_section() {
    local mode=$1 sel=$2 md=$3 key exp profile status steps nll cfg dataset tsteps used stem figs
    w "| experiment | profile | dataset | run | steps trained (configured) | status | NLL at n = ∞ (test) | figures |"
    w "|---|---|---|---|---:|---|---:|---|"
    while IFS=$'\t' read -r key exp profile status steps nll; do
        [ -n "$key" ] || continue
        cfg=$(query settings "$key")
        dataset=$(printf '%s\n' "$cfg" | awk -F'\t' 'NR > 1 && $1 == "data.dataset" { sub(/^[^\t]*\t/, ""); print; exit }')
        tsteps=$(printf '%s\n' "$cfg" | awk -F'\t' 'NR > 1 && $1 == "train.steps" { sub(/^[^\t]*\t/, ""); print; exit }')
        used=""
        if [ -n "$md" ] && grep -qF "run \`$key\`" "$md"; then used=" (in the table)"; fi
        stem="$(safe "$exp")_$(safe "$profile")_${key}"
        figs=$(printf '%s %s %s %s %s' "$(fig_link losses "${stem}_losses.png")" \
               "$(fig_link training "${stem}_training.png")" "$(fig_link "NLL vs n" "${stem}_nll.png")" \
               "$(fig_link samples "$(safe "$exp")_$(safe "$profile")_samples.png")" \
               "$(fig_link samples "$(safe "$exp")_$(safe "$profile")_samples.txt")" |
               sed 's/  */ /g; s/^ //; s/ $//')
        w "| $(md_cell "$exp") | $(md_cell "$profile") | $(md_cell "${dataset:--}") | \`$key\`$used | ${steps:-0} (${tsteps:-?}) | $status | ${nll:--} | ${figs:--} |"
    done < <(select_runs "$mode" "$sel" | cut -f1-6)
    w ""
}

provenance_section() {
    local mode=$1 sel=$2
    w "| run | git commit | libraries | host | threads | seed |"
    w "|---|---|---|---|---:|---:|"
    while IFS=$'\t' read -r key commit dirty libs host threads seed; do
        [ -n "$key" ] || continue
        if [ "$dirty" = 1 ]; then commit="$commit (uncommitted changes)"; fi
        w "| \`$key\` | \`$(md_cell "$commit")\` | $(md_cell "$libs") | $(md_cell "$host") | $threads | $seed |"
    done < <(select_runs "$mode" "$sel" | cut -f1,7-12)
    w ""
}

w "# Reproduction report, profile \`$PROFILE\`: Bayesian Flow Networks (Graves, Srivastava, Atkinson, Gomez 2023)"
w ""
w "Generated by \`analysis/make_paper.sh\` (\`make paper PROFILE=$PROFILE\`) from the $n_runs run(s) of profile"
w "\`$PROFILE\` in the results database alone. Every table below was rebuilt from that database in the same"
w "invocation (into \`paper/tables/$PROFILE/\`) and every number in it names its run key; a table whose runs"
w "are missing is not shown. It carries no timestamps: the same database and figures give a byte-identical"
w "report. Our numbers come from the network, data and training budget of the \`$PROFILE\` profile, so compare"
w "trends with the paper's, not absolute values. The paper facts used (with sources and confirmed /"
w "unconfirmed flags) are in \`paper/NOTES.md\`."
w ""

# ---- analytic figures
w "## Analytic figures"
w ""
w "Computed from the harness's own schedule and flow code (\`bfn figure NAME\`, no trained network)."
w ""
for pair in "schedules:Accuracy schedules β(t), α(t) and β(t)/β(1) of every registered schedule" \
            "input_variance:Input variance of the continuous flow (σ1 = 0.001) against linear and cosine diffusion" \
            "cts_flow:Continuous-data Bayesian flow for x = 0.8, σ1 = 0.02, with sample paths" \
            "discrete_flow_k2:Binary discrete Bayesian flow (K = 2, β(1) = 9): density of θ1 over t" \
            "discrete_flow_k3:Ternary discrete Bayesian flow: sample paths on the simplex" \
            "entropy:Expected input entropy against √β for K = 2..30 (stars: √β(1) = 3 for MNIST, 0.75 for text8)"; do
    f=${pair%%:*} caption=${pair#*:}
    if [ -f "$PLOTS/analytic_$f.png" ]; then
        w "- $caption: ![$f]($rel/analytic_$f.png)"
    else
        w "- $caption: not drawn yet (\`bash analysis/figures.sh analytic\`)"
    fi
done
w ""

# ---- one section per paper table
in_tables=""
for spec in "$PAPER"/reference/table*.tsv "$PAPER"/reference/schedules*.tsv; do
    [ -e "$spec" ] || continue
    name=$(basename "$spec" .tsv)
    md="$TABLES/$(table_out "$name").md"
    [ -n "${built[$name]:-}" ] || md=""
    title=$(spec_field "$spec" title)
    command=$(spec_field "$spec" command)
    cols=$(spec_columns "$spec")
    list="" names=""
    for e in $cols; do
        list="$list${list:+, }\`$e\`"
        names="$names${names:+ }$e"
        in_tables="$in_tables${in_tables:+ }$e"
    done
    w "## ${title:-$name}"
    w ""
    w "Experiments: $list (spec \`paper/reference/$name.tsv\`; produce with \`${command:-bfn run}\`)."
    w ""
    w "### What was run"
    w ""
    # Runs of the spec's experiments, by name or alias (experiments with equal
    # settings share one run, registered under the first name).
    if [ -z "$(select_runs named "$names")" ]; then
        w "No runs of these experiments with profile \`$PROFILE\` in the database: run \`${command:-bfn run}\` with PROFILE=$PROFILE."
        w ""
    else
        runs_section named "$names" "$md"
    fi
    w "### Table"
    w ""
    if [ -n "$md" ]; then
        # The table file without its title (this section's), its other headings
        # two levels down so they nest under this one.
        sed '1{/^# /d}; s/^#/###/' "$md" | sed '1{/^$/d}' >&3
        w ""
    else
        w "Not built from this database: $(md_cell "${why[$name]:-unknown reason}")"
        w ""
    fi
    w "### Figures"
    w ""
    if [[ $name == table* ]] && grep -q $'^#!\tcolumn\t' "$spec"; then # a table against n has its NLL-vs-n figure
        link=$(fig_link "test NLL against n, ours and the paper's" "${name}_${PROFILE}_nll.png")
        if [ -n "$link" ]; then w "- $link"; else w "- NLL against n: not drawn yet (\`bash analysis/figures.sh all\`)"; fi
    fi
    case "$name" in
        schedules*)
            link=$(fig_link "schedules compared: β(t)/β(1), L^∞(t), its integral, total loss if stopped at t" \
                   "$(table_out "$name")_${PROFILE}.png")
            if [ -n "$link" ]; then w "- $link"; else w "- Schedules figure: not drawn yet (\`make schedules PROFILE=$PROFILE\`)"; fi ;;
    esac
    w "- Per run: the links in the table under \"What was run\" (losses against time, training curve, NLL against n)."
    w ""
    w "### Provenance"
    w ""
    if [ -n "$(select_runs named "$names")" ]; then
        provenance_section named "$names"
    else
        w "No runs."
        w ""
    fi
done

# ---- experiments outside every table
if [ -n "$(select_runs other "$in_tables")" ]; then
    w "## Other experiments"
    w ""
    w "Runs of experiments that belong to no paper table."
    w ""
    w "### What was run"
    w ""
    runs_section other "$in_tables" ""
    w "### Provenance"
    w ""
    provenance_section other "$in_tables"
fi

exec 3>&-
mv "$tmp" "$OUT"
trap - EXIT
echo "make_paper: wrote $OUT"
