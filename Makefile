# bfn-harness build. `make` builds build/bfn; `make test` runs the test suite
# under AddressSanitizer/UBSan; `make table2` regenerates the MNIST-vs-steps
# table. Set-up (Debian packages, datasets) happens on demand via `deps`/`data`.

CC       ?= cc
BUILD    ?= build
PROFILE  ?= small
JOBS     ?= 2
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


.PHONY: all deps data data-text data-images test bench bench-quick bench-compare clean check-one table1 table2 table3 table4 table5 tables text-run figures paper valgrind schedules plot
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
BLAS_TESTS := $(BUILD)/tests/test_nn $(BUILD)/tests/test_transformer
test: $(TEST_BIN) $(BUILD)/bfn-san $(BFN)
	@BUILD=$(BUILD) BFN_AVX2_TESTS="$(BLAS_TESTS)" bash tests/run.sh $(TEST_BIN)

# Throughput against sgemm in the same invocation (see src/tools/bench.c).
$(BUILD)/bench: src/tools/bench.c $(BUILD)/libbfn.a
	$(CC) $(ALL_CFLAGS) $< $(BUILD)/libbfn.a $(LIBS) -o $@

bench: $(BUILD)/bench
	@$(BUILD)/bench

bench-quick: $(BUILD)/bench
	@$(BUILD)/bench --quick

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
FIGURES = BFN=$(BFN) bash analysis/figures.sh all
TABLE = $(BFN) table paper/reference
CIFAR_RUNS = cifar_cts256 cifar_disc256 cifar_cts16 cifar_disc16

table2: $(BFN) data
	$(BFN) run experiments/mnist.ini --profile $(PROFILE)
	@mkdir -p paper/tables plots
	$(BFN) sample @mnist --profile $(PROFILE) --out plots/mnist_$(PROFILE)_samples.png
	$(TABLE)/table2.tsv --profile $(PROFILE) --out paper/tables/table2.md
	@$(FIGURES)
	@echo "wrote paper/tables/table2.md (and .tex)"

table3: $(BFN) data-images
	$(BFN) sweep experiments/table3.sweep --profile $(PROFILE) -j $(JOBS)
	@mkdir -p paper/tables plots
	@for e in $(CIFAR_RUNS); do \
	  $(BFN) sample @$$e --profile $(PROFILE) --out plots/$${e}_$(PROFILE)_samples.png --quiet || exit 1; done
	$(TABLE)/table3.tsv --profile $(PROFILE) --out paper/tables/table3.md
	@$(FIGURES)
	@echo "wrote paper/tables/table3.md (and .tex)"

table1: table2 table3
	$(TABLE)/table1.tsv --profile $(PROFILE) --out paper/tables/table1.md
	@echo "wrote paper/tables/table1.md (and .tex)"

# Tables 4 and 5 share one text run.
text-run: $(BFN) data-text
	$(BFN) run experiments/text8.ini --profile $(PROFILE)
	@mkdir -p paper/tables plots
	$(BFN) sample @text8 --profile $(PROFILE) --out plots/text8_$(PROFILE)_samples.txt

table4: text-run
	$(TABLE)/table4.tsv --profile $(PROFILE) --out paper/tables/table4.md
	@$(FIGURES)
	@echo "wrote paper/tables/table4.md (and .tex)"

table5: text-run
	$(TABLE)/table5.tsv --profile $(PROFILE) --out paper/tables/table5.md
	@$(FIGURES)
	@echo "wrote paper/tables/table5.md (and .tex)"

tables: table1 table2 table3 table4 table5

# Accuracy schedules compared at equal budget (experiments/schedules*.sweep).
schedules: $(BFN) data data-images
	$(BFN) sweep experiments/schedules.sweep --profile $(PROFILE) -j $(JOBS)
	$(BFN) sweep experiments/schedules_img.sweep --profile $(PROFILE) -j $(JOBS)
	@mkdir -p paper/tables plots
	$(TABLE)/schedules.tsv --profile $(PROFILE) --out paper/tables/schedules_mnist.md
	$(TABLE)/schedules_img.tsv --profile $(PROFILE) --out paper/tables/schedules_img16.md
	{ cat paper/tables/schedules_mnist.md; echo; cat paper/tables/schedules_img16.md; } > paper/tables/schedules.md
	@BFN=$(BFN) bash analysis/schedules_fig.sh $(PROFILE) plots/schedules_mnist.png nats/image "Binarised MNIST" \
	  sched_quadratic sched_linear sched_cosine sched_table
	@BFN=$(BFN) bash analysis/schedules_fig.sh $(PROFILE) plots/schedules_img16.png bits/dim "4-bit images, discretised" \
	  sched16_exponential sched16_linear sched16_cosine sched16_table
	@echo "wrote paper/tables/schedules.md and plots/schedules_{mnist,img16}.png"

# Every figure from the database (analytic ones need no runs), and
# paper/REPORT.md with every table whose runs exist. Byte-identical on rerun.
figures: $(BFN)
	@BFN=$(BFN) bash analysis/figures.sh all

# make plot RUN=<run key|@experiment>: one run's curves, in a window when a
# display is present, else in the terminal and as PNG.
plot: $(BFN)
	@test -n "$(RUN)" || { echo "usage: make plot RUN=<run key or @experiment>"; exit 2; }
	@BFN=$(BFN) bash analysis/plot.sh "$(RUN)"

paper: $(BFN)
	@BFN=$(BFN) PROFILE=$(PROFILE) bash analysis/make_paper.sh --tables --figures

# A short run of the optimised binary under valgrind (leaks and memory errors).
valgrind: $(BFN) data
	OMP_NUM_THREADS=1 BFN_DB=$(BUILD)/valgrind.db BFN_RESULTS=$(BUILD)/valgrind-results \
	  valgrind --quiet --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite \
	  $(BFN) run experiments/mnist.ini --profile smoke --force train.steps=20 eval.steps=10,inf eval.t_bins=2 --quiet
	@echo "valgrind: clean"

clean:
	rm -rf $(BUILD)
