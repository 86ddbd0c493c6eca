# The two commands: `make run` builds and starts the sample server; `make test` builds and runs
# every test. Both install missing Debian packages first.
BUILD ?= build/release
ARGS ?=
SECONDS ?= 60

.PHONY: all run test sample clean fuzz bench docs lwip-sample lwip-demo lwip-check

all: sample

sample:
	scripts/deps.sh run
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DMOTE_TESTS=OFF >/dev/null
	cmake --build $(BUILD) -j $$(nproc) --target mote-sample

run: sample
	$(BUILD)/mote-sample $(ARGS)

test:
	scripts/deps.sh test
	scripts/test.sh

# `make fuzz SECONDS=300`: each libFuzzer harness for SECONDS (needs clang).
fuzz:
	scripts/fuzz.sh run $(SECONDS)

# `make bench`: mote against h2o and nginx, CPU time per request, into bench/RESULTS.md
# (bench/README.md); BENCH_ARGS="--rounds 1 --duration 2" for a quick look.
bench:
	bench/bench.sh $(BENCH_ARGS)

clean:
	rm -rf build

# `make docs`: the API reference from include/mote.h into build/docs/html (Doxygen).
docs:
	scripts/docs.sh build/docs

# mote on lwIP (Debian's liblwip, the unix port): `make lwip-demo` serves the sample's pages over
# lwIP's own TCP/IP on a TAP device (as root; prints the URL to open); `make lwip-check` runs the
# end-to-end check alone, in a network namespace of its own.
LWIP_BUILD ?= build/lwip

lwip-sample:
	scripts/deps.sh test
	cmake -S . -B $(LWIP_BUILD) -DCMAKE_BUILD_TYPE=Release -DMOTE_TESTS=OFF >/dev/null
	cmake --build $(LWIP_BUILD) -j $$(nproc) --target mote-lwip-sample

lwip-demo: lwip-sample
	scripts/lwip-demo.sh $(LWIP_BUILD)/mote-lwip-sample

lwip-check: lwip-sample
	/usr/bin/python3 tests/lwip/check.py $(LWIP_BUILD)/mote-lwip-sample
