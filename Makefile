# Set-up and entry points. `make train` runs the main job, `make test` the tests; both set up
# .venv first (torch is pinned by constraints.txt so a CPU machine never pulls CUDA wheels).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# MiniWorld renders offscreen through EGL (Mesa's llvmpipe on machines without a GPU). These Debian
# packages provide it; they are installed only when missing (as root, or through sudo).
GL_PACKAGES := libegl1 libegl-mesa0 libgl1 libgl1-mesa-dri libglu1-mesa
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: install system-gl train test lint clean

install: system-gl $(STAMP)

system-gl:
	@if ! command -v dpkg >/dev/null 2>&1; then \
		echo "Not a Debian system: make sure EGL and Mesa (libEGL, libGL, libGLU) are installed for MiniWorld."; \
	elif ! dpkg -s $(GL_PACKAGES) >/dev/null 2>&1; then \
		echo "Installing OpenGL/EGL libraries for MiniWorld: $(GL_PACKAGES)"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(GL_PACKAGES); \
	fi

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt "torch==2.13.0"
	$(BIN)/pip install --quiet -c constraints.txt -e ".[all,test]"
	touch $(STAMP)

train: install
	$(BIN)/python baselines/distral_kl_ent_2col.py --exp-name readme-main-job
	$(BIN)/mtenvs report runs/ -o report/ --metric eval/distilled_normalized_score --metric eval/normalized_score

test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 --durations=15

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) runs wandb .pytest_cache
