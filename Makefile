# Intercom firmware: host tooling. `make test` and `make demo` set themselves up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed-$(shell cksum < requirements.txt | cut -d' ' -f1)
FIRMWARE_PY := $(shell find firmware -name '*.py')
export PATH := $(BIN):$(PATH)

.PHONY: venv test test-core demo bench mpy romfs lint clean

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

venv: $(STAMP)

## test: every test: CPython unit tests, the core under the MicroPython unix port,
## mpy-cross, and the real peers (Kamailio, SIPp) on 127.0.0.1
test: venv
	$(BIN)/ruff check firmware host_tests tools
	$(BIN)/python -m pytest -q -rs -p no:cacheprovider host_tests

## test-core: the pure core only, under CPython and MicroPython (fast)
test-core: venv
	$(BIN)/python -m pytest -q -rs -p no:cacheprovider host_tests/core
	cd host_tests/core && MICROPYPATH=../../firmware:. $(BIN)/micropython -X heapsize=16M mpy_runner.py

## demo: two simulated intercoms on 127.0.0.1 call each other (no PBX needed)
demo: venv
	$(BIN)/python tools/demo.py

## bench: full SIP parse (us, pyVoIP, sippy, MicroPython), INVITE -> 180, the 20 ms media frame,
## ESP32 estimates, smallest/peak heap per deployment (tools/membench.py via tools/bench.py), goals;
## then the 20 largest heap costs at boot (tools/memprofile.py). Exit 2 when a peer is missing.
bench: venv
	$(BIN)/python tools/bench.py
	$(BIN)/python tools/memprofile.py --top 20

## mpy: precompile every firmware module with mpy-cross into build/mpy (plain bytecode:
## the same files serve every ESP32 and the unix port)
mpy: venv
	$(BIN)/python tools/mpy_build.py

## romfs: the precompiled modules packed into build/romfs.img, for a MicroPython
## with a ROM partition (`make deploy ROMFS=1`): bytecode then runs in place from flash
romfs: venv
	$(BIN)/python tools/mpy_build.py --romfs

## frozen: build/frozen/micropython, the unix port with every firmware module frozen by
## tools/manifest.py, from Debian's MicroPython source (tools/frozen_build.py; cached)
.PHONY: frozen firmware
frozen: venv
	$(BIN)/python tools/frozen_build.py

## firmware: an ESP32 MicroPython with the intercom frozen (needs ESP-IDF, sourced export.sh):
## make firmware BOARD=ESP32_GENERIC MICROPYTHON_DIR=~/micropython  (-> its ports/esp32/build-BOARD)
firmware:
	@test -n "$(BOARD)" || { echo "error: make firmware BOARD=ESP32_GENERIC (a MicroPython board, ports/esp32/boards)"; exit 2; }
	@test -d "$(MICROPYTHON_DIR)/ports/esp32" || { echo "error: set MICROPYTHON_DIR to a MicroPython source tree (git clone https://github.com/micropython/micropython)"; exit 2; }
	@test -n "$(IDF_PATH)" || { echo "error: ESP-IDF not set up: source \$$IDF_PATH/export.sh first"; exit 2; }
	$(MAKE) -C "$(MICROPYTHON_DIR)/mpy-cross"
	$(MAKE) -C "$(MICROPYTHON_DIR)/ports/esp32" BOARD=$(BOARD) FROZEN_MANIFEST=$(abspath tools/manifest.py) submodules
	$(MAKE) -C "$(MICROPYTHON_DIR)/ports/esp32" BOARD=$(BOARD) FROZEN_MANIFEST=$(abspath tools/manifest.py)

lint: venv
	$(BIN)/ruff check firmware host_tests tools

clean:
	rm -rf build $(VENV) host_tests/_out

## --- device: flash MicroPython, deploy the firmware, REPL (need a serial PORT) ------------
## deploy: make deploy PORT=/dev/ttyUSB0 BOARD=esp32-devkitc-inmp441 CONFIG=my.json [TOOL=ampy] [ROMFS=1]
## flash-micropython: make flash-micropython PORT=/dev/ttyUSB0 FIRMWARE=ESP32_GENERIC-....bin [BOARD=...]
## repl: make repl PORT=/dev/ttyUSB0;  package: regenerate package.json (mpremote mip install)
.PHONY: deploy flash-micropython repl package
TOOL ?= mpremote
DEPLOY := $(BIN)/python tools/deploy.py $(if $(DRY_RUN),--dry-run)

DEPLOY_ARGS = --port "$(PORT)" --board "$(BOARD)" --config "$(CONFIG)" --tool "$(TOOL)" $(if $(ROMFS),--romfs)

deploy: venv
	@$(DEPLOY) deploy --check $(DEPLOY_ARGS)
	$(MAKE) --no-print-directory $(if $(ROMFS),romfs,mpy)
	$(DEPLOY) deploy $(DEPLOY_ARGS)

flash-micropython: venv
	$(DEPLOY) flash --port "$(PORT)" --firmware "$(FIRMWARE)" --board "$(BOARD)" --chip "$(CHIP)"

repl: venv
	$(DEPLOY) repl --port "$(PORT)"

package: venv
	$(BIN)/python tools/deploy.py package
