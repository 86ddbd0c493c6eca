# The two commands: `make run` builds and starts the sample server; `make test` builds and runs
# every test. Both install missing Debian packages first.
BUILD ?= build/release
ARGS ?=

.PHONY: all run test sample clean

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

clean:
	rm -rf build
