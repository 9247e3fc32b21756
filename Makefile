# bfn-harness build. `make` builds build/bfn; `make test` runs the test suite
# under AddressSanitizer/UBSan; `make table2` regenerates the MNIST-vs-steps
# table. Set-up (Debian packages, datasets) happens on demand via `deps`/`data`.

CC       ?= cc
BUILD    ?= build
PROFILE  ?= small
JOBS     ?= 2
# THREADS=N: threads of a single-run target (table2, text-run); default all
# cores. On a loaded shared machine 1 is often faster (OpenMP barriers wait
# for descheduled threads).
THREADS  ?=
PKGS     := gsl hdf5 sqlite3 inih libmd libpng zlib
BLAS_INC := -I/usr/include/x86_64-linux-gnu/openblas-openmp
# rpath: use the OpenMP build of OpenBLAS even if another variant is the system default.
BLAS_LIB := -L/usr/lib/x86_64-linux-gnu/openblas-openmp -Wl,-rpath,/usr/lib/x86_64-linux-gnu/openblas-openmp -lopenblas

# No -ffast-math: it breaks NaN checks and bitwise reproducibility.
WARN     := -std=c11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
# -fno-math-errno lets sqrtf/expf loops vectorise (it changes no computed value);
# x86-64-v3 = AVX2 + FMA (ISO C mode keeps -ffp-contract=off, so no silent FMA).
CFLAGS   ?= -O2 -g -march=x86-64-v3 -fno-math-errno
ALL_CFLAGS = $(WARN) $(CFLAGS) -fopenmp -D_GNU_SOURCE -Isrc -I. $(BLAS_INC) \
             $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# GSL's pkg-config pulls in its reference CBLAS; we want OpenBLAS's instead.
LIBS     = $(shell pkg-config --libs-only-L gsl) -lgsl $(BLAS_LIB) \
           $(shell pkg-config --libs hdf5 sqlite3 inih libmd libpng zlib 2>/dev/null) -lm -fopenmp

SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

LIB_SRC  := $(sort $(filter-out src/run/main.c src/tools/%,$(wildcard src/*/*.c)) $(wildcard analysis/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
SAN_OBJ  := $(LIB_SRC:%.c=$(BUILD)/san/%.o)
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
HDRS     := $(wildcard src/*/*.h analysis/*.h tests/*.h)

BFN      := $(BUILD)/bfn
DEPS_OK  := $(BUILD)/.deps-ok


.PHONY: test-slurm torch-check fuzz all deps data data-text data-images test bench bench-quick bench-torch bench-compare clean check-one table1 table2 table3 table4 table5 tables text-run figures paper valgrind schedules plot
all: $(BFN)

# --- set-up -----------------------------------------------------------------
$(DEPS_OK): src/tools/deps.sh
	@bash src/tools/deps.sh
	@mkdir -p $(BUILD) && touch $@
deps: $(DEPS_OK)

data: $(BFN)
	@BFN=$(BFN) bash src/tools/fetch_data.sh mnist

data-text: $(BFN)
	@BFN=$(BFN) bash src/tools/fetch_data.sh brown

data-images: $(DEPS_OK)
	@bash src/tools/fetch_data.sh fashion-mnist

# --- build --------------------------------------------------------------------
$(BUILD)/obj/%.o: %.c $(HDRS) Makefile | $(DEPS_OK)
	@mkdir -p $(dir $@)
	@echo "CC $<"; $(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/san/%.o: %.c $(HDRS) Makefile | $(DEPS_OK)
	@mkdir -p $(dir $@)
	@echo "CC (asan) $<"; $(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -c $< -o $@

$(BUILD)/libbfn.a: $(LIB_OBJ)
	@rm -f $@ && ar rcs $@ $^

$(BUILD)/libbfn-san.a: $(SAN_OBJ)
	@rm -f $@ && ar rcs $@ $^

$(BFN): src/run/main.c $(BUILD)/libbfn.a
	$(CC) $(ALL_CFLAGS) $< $(BUILD)/libbfn.a $(LIBS) -o $@

$(BUILD)/bfn-san: src/run/main.c $(BUILD)/libbfn-san.a
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) $< $(BUILD)/libbfn-san.a $(LIBS) -o $@

$(BUILD)/tests/%: tests/%.c $(BUILD)/libbfn-san.a tests/testutil.h tests/gradcheck.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -Itests $< $(BUILD)/libbfn-san.a $(LIBS) -lcmocka -o $@

# --- tests ----------------------------------------------------------------------
# Every test binary runs under ASan/UBSan; tests/run.sh adds up the cmocka
# results and prints the closing "N passed, N failed" line.
# The tests that go through OpenBLAS's GEMMs run a second time with its AVX2
# (Haswell) kernels forced, so a bitwise assumption that holds only for the
# local CPU's kernels (e.g. AVX-512) fails here too, not only on other CPUs.
BLAS_TESTS := $(BUILD)/tests/test_nn $(BUILD)/tests/test_transformer $(BUILD)/tests/test_unet
test: $(TEST_BIN) $(BUILD)/bfn-san $(BFN)
	@BUILD=$(BUILD) BFN_AVX2_TESTS="$(BLAS_TESTS)" bash tests/run.sh $(TEST_BIN)

# The smoke Table 3 sweep on a real single-node Slurm started here (root
# only; installs slurm-wlm + munge via src/tools/slurm_deps.sh), compared
# bitwise with the same sweep run locally. See tests/slurm/test_slurm.sh.
test-slurm: $(BFN) data-images
	@BFN=$(BFN) bash tests/slurm/test_slurm.sh

# Throughput against sgemm in the same invocation (see src/tools/bench.c).
$(BUILD)/bench: src/tools/bench.c $(BUILD)/libbfn.a
	$(CC) $(ALL_CFLAGS) $< $(BUILD)/libbfn.a $(LIBS) -o $@

bench: $(BUILD)/bench
	@$(BUILD)/bench

# Outside CI: import/export against the official PyTorch code (needs
# python3-torch and a checkout of the official repository; see README).
$(BUILD)/torch_forward: src/tools/torch_forward.c $(BUILD)/libbfn.a
	$(CC) $(ALL_CFLAGS) $< $(BUILD)/libbfn.a $(LIBS) -o $@

torch-check: $(BFN) $(BUILD)/torch_forward
	@test -n "$(OFFICIAL)" || { echo "usage: make torch-check OFFICIAL=/path/to/bayesian-flow-networks"; exit 2; }
	@bash src/tools/deps.sh torch
	/usr/bin/python3 src/tools/torch_check.py --official "$(OFFICIAL)" --bfn $(BFN) --forward $(BUILD)/torch_forward \
	  --work $(BUILD)/torch-check $(CHECK_ARGS)
	/usr/bin/python3 src/tools/torch_check_unet.py --official "$(OFFICIAL)" --bfn $(BFN) --forward $(BUILD)/torch_forward \
	  --work $(BUILD)/torch-check-unet $(CHECK_ARGS)

bench-quick: $(BUILD)/bench
	@$(BUILD)/bench --quick

# The small MNIST U-Net step, C vs PyTorch (Debian python3-torch), interleaved.
bench-torch: $(BUILD)/bench
	@bash src/tools/deps.sh torch
	@BENCH=$(BUILD)/bench bash bench/unet_vs_torch.sh
# The C steps against the same steps in PyTorch (bench/torch_steps.py), interleaved
# in one invocation, at 1 and 2 threads (bench/compare.py; ~10 min on 2 idle cores,
# longer under load). Installs Debian's python3-torch if missing.
# REPS=N rounds (default 3); CASES=mnist128,sample_mnist,... a subset.
REPS ?= 3
bench-compare: $(BUILD)/bench
	@bash src/tools/deps.sh torch
	@/usr/bin/python3 bench/compare.py --reps $(REPS) --bench $(BUILD)/bench $(if $(CASES),--cases $(CASES))

# Run one test binary: make check-one T=test_discrete
check-one: $(BUILD)/tests/$(T)
	@$(BUILD)/tests/$(T)

# --- experiments and tables ------------------------------------------------------
# make tableN [PROFILE=smoke|small|paper] [JOBS=2]: train + evaluate what the
# table needs (resumable; finished runs are skipped), rebuild the table from
# the database, and draw its figures. Runs go to results/bfn.db.
FIGURES = BFN=$(BFN) PROFILE=$(PROFILE) bash analysis/figures.sh all
# A sweep runs here (-j JOBS), or with SLURM=1 as a Slurm job array: submit,
# wait with progress, merge the per-run databases (SLURM_ARGS: extra sbatch
# options, e.g. SLURM_ARGS="--partition=long --time=08:00:00").
SLURM ?=
RUN_SWEEP = $(if $(filter 1 yes,$(SLURM)),BFN=$(BFN) SLURM_ARGS="$(SLURM_ARGS)" bash src/tools/slurm_sweep.sh run,$(BFN) sweep)
SWEEP_JOBS = $(if $(filter 1 yes,$(SLURM)),,-j $(JOBS))
TABLE = $(BFN) table paper/reference
# Outputs per profile: a smoke run never touches the committed small tables.
TABLES = paper/tables/$(PROFILE)
CIFAR_RUNS = cifar_cts256 cifar_disc256 cifar_cts16 cifar_disc16

# make tableN FROM=official: the same tables from the authors' released
# checkpoints (README: "Reproduce the paper from the released checkpoints"),
# imported with bfn import-torch into runs of experiments/official_*.ini and
# evaluated here. PRETRAINED is the directory holding the .pt files (default
# pretrained-BFNs, the official README's git clone); OFFICIAL_CTS256 names the
# continuous-loss CIFAR-10 file; OPROFILE=quick evaluates text8 on a subset;
# OARGS="key=value ..." adds config overrides (they change the run key).
ifeq ($(FROM),official)
PRETRAINED ?= pretrained-BFNs
OFFICIAL_CTS256 ?=
OPROFILE ?= official
OIMPORT = $(BFN) import-torch

table2: $(BFN)
	$(OIMPORT) $(PRETRAINED)/mnist_ema.pt experiments/official_mnist.ini --profile official $(OARGS)
	$(BFN) eval experiments/official_mnist.ini --profile official $(OARGS)
	@mkdir -p paper/tables
	$(TABLE)/table2_official.tsv --profile official --out paper/tables/table2_official.md
	@echo "wrote paper/tables/table2_official.md (and .tex)"

table3: $(BFN)
	$(OIMPORT) $(PRETRAINED)/cifar10_256d_ema.pt experiments/official_cifar.ini --profile cifar256 $(OARGS)
	$(OIMPORT) $(PRETRAINED)/cifar10_16d_ema.pt experiments/official_cifar.ini --profile cifar16 $(OARGS)
	@test -n "$(OFFICIAL_CTS256)" || { echo "set OFFICIAL_CTS256=FILE.pt (the continuous-loss CIFAR-10 model)"; exit 2; }
	$(OIMPORT) $(PRETRAINED)/$(OFFICIAL_CTS256) experiments/official_cifar.ini --profile cts256 $(OARGS)
	@for p in cifar256 cifar16 cts256; do $(BFN) eval experiments/official_cifar.ini --profile $$p $(OARGS) || exit 1; done
	@mkdir -p paper/tables
	$(BFN) table paper/reference/table3_official.tsv --out paper/tables/table3_official.md
	@echo "wrote paper/tables/table3_official.md (and .tex)"

table1:
	@echo "table1 compares with other published models; use make table2 table3 FROM=official"; exit 2

text-run: $(BFN)
	$(OIMPORT) $(PRETRAINED)/text8_ema.pt experiments/official_text8.ini --profile $(OPROFILE) $(OARGS)
	$(BFN) eval experiments/official_text8.ini --profile $(OPROFILE) $(OARGS)

table4: text-run
	@mkdir -p paper/tables
	$(TABLE)/table4_official.tsv --profile $(OPROFILE) --out paper/tables/table4_official.md
	@echo "wrote paper/tables/table4_official.md (and .tex)"

table5: text-run
	@mkdir -p paper/tables
	$(TABLE)/table5_official.tsv --profile $(OPROFILE) --out paper/tables/table5_official.md
	@echo "wrote paper/tables/table5_official.md (and .tex)"

else
table2: $(BFN) data
	$(BFN) run experiments/mnist.ini --profile $(PROFILE) $(if $(THREADS),--threads $(THREADS))
	$(BFN) run experiments/mnist_mlp.ini --profile $(PROFILE) $(if $(THREADS),--threads $(THREADS))
	@mkdir -p $(TABLES) plots
	$(BFN) sample @mnist --profile $(PROFILE) --out plots/mnist_$(PROFILE)_samples.png
	$(TABLE)/table2.tsv --profile $(PROFILE) --out $(TABLES)/table2.md
	@$(FIGURES)
	@echo "wrote $(TABLES)/table2.md (and .tex)"

table3: $(BFN) data-images
	$(RUN_SWEEP) experiments/table3.sweep --profile $(PROFILE) $(SWEEP_JOBS)
	@mkdir -p $(TABLES) plots
	@for e in $(CIFAR_RUNS); do \
	  $(BFN) sample @$$e --profile $(PROFILE) --out plots/$${e}_$(PROFILE)_samples.png --quiet || exit 1; done
	$(TABLE)/table3.tsv --profile $(PROFILE) --out $(TABLES)/table3.md
	@$(FIGURES)
	@echo "wrote $(TABLES)/table3.md (and .tex)"

table1: table2 table3
	$(TABLE)/table1.tsv --profile $(PROFILE) --out $(TABLES)/table1.md
	@echo "wrote $(TABLES)/table1.md (and .tex)"

# Tables 4 and 5 share one text run.
text-run: $(BFN) data-text
	$(BFN) run experiments/text8.ini --profile $(PROFILE) $(if $(THREADS),--threads $(THREADS))
	@mkdir -p $(TABLES) plots
	$(BFN) sample @text8 --profile $(PROFILE) --out plots/text8_$(PROFILE)_samples.txt

table4: text-run
	$(TABLE)/table4.tsv --profile $(PROFILE) --out $(TABLES)/table4.md
	@$(FIGURES)
	@echo "wrote $(TABLES)/table4.md (and .tex)"

table5: text-run
	$(TABLE)/table5.tsv --profile $(PROFILE) --out $(TABLES)/table5.md
	@$(FIGURES)
	@echo "wrote $(TABLES)/table5.md (and .tex)"

endif

tables: table1 table2 table3 table4 table5

# Accuracy schedules compared at equal budget (experiments/schedules*.sweep).
schedules: $(BFN) data data-images
	$(RUN_SWEEP) experiments/schedules.sweep --profile $(PROFILE) $(SWEEP_JOBS)
	$(RUN_SWEEP) experiments/schedules_img.sweep --profile $(PROFILE) $(SWEEP_JOBS)
	@mkdir -p $(TABLES) plots
	$(TABLE)/schedules.tsv --profile $(PROFILE) --out $(TABLES)/schedules_mnist.md
	$(TABLE)/schedules_img.tsv --profile $(PROFILE) --out $(TABLES)/schedules_img16.md
	{ cat $(TABLES)/schedules_mnist.md; echo; cat $(TABLES)/schedules_img16.md; } > $(TABLES)/schedules.md
	@BFN=$(BFN) bash analysis/schedules_fig.sh $(PROFILE) plots/schedules_mnist_$(PROFILE).png nats/image \
	  "Binarised MNIST" --sweep experiments/schedules.sweep
	@BFN=$(BFN) bash analysis/schedules_fig.sh $(PROFILE) plots/schedules_img16_$(PROFILE).png bits/dim \
	  "4-bit images, discretised" --sweep experiments/schedules_img.sweep
	@echo "wrote $(TABLES)/schedules.md and plots/schedules_{mnist,img16}_$(PROFILE).png"

# Every figure from the database (analytic ones need no runs), and
# paper/REPORT-$(PROFILE).md with every table of that profile whose runs
# exist, rebuilt now into paper/tables/$(PROFILE)/. Byte-identical on rerun.
figures: $(BFN)
	@BFN=$(BFN) bash analysis/figures.sh all

# make plot RUN="A B C" [METRIC=train.loss|val.loss|losscurve|nll]: the runs
# overlaid in one figure, plots/compare_METRIC.png (legend: experiment,
# profile, the settings that differ). One run: also its curves in a window
# when a display is present, else in the terminal.
METRIC ?= train.loss
plot: $(BFN)
	@test -n "$(RUN)" || { echo "usage: make plot RUN=\"<run key or @experiment> ...\" [METRIC=...]"; exit 2; }
	@mkdir -p plots
	$(BFN) plot $(RUN) --metric $(METRIC) --out plots/compare_$(METRIC).png
	@if [ $(words $(RUN)) = 1 ]; then BFN=$(BFN) bash analysis/plot.sh "$(RUN)"; fi

paper: $(BFN)
	@BFN=$(BFN) PROFILE=$(PROFILE) bash analysis/make_paper.sh --figures

# A short run of the optimised binary under valgrind (leaks and memory errors):
# a tiny U-Net with attention (the default image network) trained, checkpointed,
# validated and evaluated; a few minutes, since valgrind runs ~100x slower.
valgrind: $(BFN) data
	rm -rf $(BUILD)/valgrind.db* $(BUILD)/valgrind-results # a stored run would be skipped, not checked
	OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive BFN_DB=$(BUILD)/valgrind.db BFN_RESULTS=$(BUILD)/valgrind-results \
	  valgrind --quiet --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite \
	  $(BFN) run experiments/mnist.ini --profile smoke --force train.steps=4 train.batch=8 train.log_every=2 \
	  train.ckpt_every=2 train.val_every=2 data.val_count=20 data.test_count=20 model.channels=4 model.groups=2 \
	  model.out_channels=4 model.channel_mult=1,2 model.attn_res=2 eval.steps=10,inf eval.t_bins=2 --quiet
	@echo "valgrind: clean"

clean:
	rm -rf $(BUILD)

# --- fuzzing ---------------------------------------------------------------------
# make fuzz [FUZZ_SECONDS=120] [FUZZ_TARGETS="ini idx ..."]: each libFuzzer
# target (tests/fuzz/fuzz_<name>.c, clang, ASan/UBSan) for FUZZ_SECONDS from
# its seed corpus tests/fuzz/<name>/; new inputs go to build/fuzz/corpus/<name>/
# and crashes to build/fuzz/crashes/ (add a fixed crash's input to
# tests/fuzz/<name>/: `make test` replays that corpus, see test_fuzz_corpus.c).
FUZZ_SECONDS ?= 120
FUZZ_TARGETS ?= ini sweep schedule idx cifar text ckpt
FUZZ_CC      := clang
FUZZ_FLAGS   := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1
FUZZ_OBJ     := $(LIB_SRC:%.c=$(BUILD)/fuzzobj/%.o)
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)
# clang's -fopenmp would want libomp: use GCC's libgomp, as the rest of the build does.
FUZZ_CFLAGS   = $(subst -fopenmp,-fopenmp=libgomp,$(filter-out -march=% -fno-math-errno -O2 -g,$(ALL_CFLAGS)))

$(BUILD)/.fuzz-deps-ok: src/tools/fuzz_deps.sh
	@bash src/tools/fuzz_deps.sh
	@mkdir -p $(BUILD) && touch $@

$(BUILD)/fuzzobj/%.o: %.c $(HDRS) Makefile | $(BUILD)/.fuzz-deps-ok
	@mkdir -p $(dir $@)
	@echo "CC (fuzz) $<"; $(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -march=x86-64-v3 -c $< -o $@

$(BUILD)/libbfn-fuzz.a: $(FUZZ_OBJ)
	@rm -f $@ && ar rcs $@ $^

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(BUILD)/libbfn-fuzz.a
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer -DBFN_LIBFUZZER -Itests $< $(BUILD)/libbfn-fuzz.a \
	  $(subst -fopenmp,-fopenmp=libgomp,$(LIBS)) -o $@

fuzz: $(FUZZ_BINS)
	@mkdir -p $(BUILD)/fuzz/crashes
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(BUILD)/fuzz/corpus/$$t; \
	  echo "=== fuzz_$$t for $(FUZZ_SECONDS) s"; \
	  $(BUILD)/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=20 -rss_limit_mb=2048 -max_len=65536 \
	    -print_final_stats=1 -artifact_prefix=$(BUILD)/fuzz/crashes/$$t- \
	    $(BUILD)/fuzz/corpus/$$t tests/fuzz/$$t > $(BUILD)/fuzz/$$t.log 2>&1; rc=$$?; \
	  grep -E "^(#[0-9]+[[:space:]]+DONE|stat::|==[0-9]+==ERROR|SUMMARY|Test unit written)" $(BUILD)/fuzz/$$t.log; \
	  test $$rc -eq 0 || { echo "fuzz_$$t failed: see $(BUILD)/fuzz/$$t.log"; exit 1; }; \
	done

$(BUILD)/tests/test_fuzz_corpus: $(wildcard tests/fuzz/*.c tests/fuzz/*.h)

# The resolved config and run keys of one experiment (src/tools/config_equiv.sh).
$(BUILD)/config_dump: src/tools/config_dump.c $(BUILD)/libbfn.a
	$(CC) $(ALL_CFLAGS) $< $(BUILD)/libbfn.a $(LIBS) -o $@
