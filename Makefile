# Set-up and entry points. `make train` runs the main job, `make test` the tests; both set up
# .venv first (torch is pinned by constraints.txt so a CPU machine never pulls CUDA wheels).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install train test lint clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt "torch==2.13.0"
	$(BIN)/pip install --quiet -c constraints.txt -e ".[all,test]"
	touch $(STAMP)

train: install
	$(BIN)/python baselines/distral_kl_ent_2col.py --exp-name readme-main-job
	$(BIN)/mtenvs report runs/ -o report/ --metric eval/distilled_return

test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 --durations=15

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) runs wandb .pytest_cache
