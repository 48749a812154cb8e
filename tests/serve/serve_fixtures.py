"""Helpers of the serve tests: a tiny checkpoint whose text depends on the protein, a free port, and the web page
driven in a real Chromium (the ``browser`` fixture of conftest.py)."""

from __future__ import annotations

import socket
from pathlib import Path

import torch

from m2t.config import Config
from m2t.encoders import build_encoder
from m2t.model import build_model, save_checkpoint
from m2t.modules.tanh_gate import TanhGate

PAGE_FIELDS = (
    "api_key",
    "wild_type",
    "mutations",
    "mutant",
    "protein_name",
    "function",
    "max_new_tokens",
    "temperature",
)


def opened_checkpoint(cfg: Config, directory: Path) -> Path:
    """An untrained tiny stage-2 checkpoint whose gates are opened, so the text depends on the protein."""
    encoder = build_encoder(cfg.encoder)
    torch.manual_seed(0)
    model = build_model(cfg, stage="finetune", dim_in=encoder.hidden_size, encoder_id=encoder.encoder_id)
    with torch.no_grad():
        for module in model.adapter.modules():
            if isinstance(module, TanhGate):
                module.gate.fill_(3.0)
    return save_checkpoint(model, cfg, directory)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PageDriver:
    """The page at ``url`` in a Selenium-driven Chromium: fill fields by id, submit, read what the page shows."""

    def __init__(self, driver, url: str) -> None:
        self.driver, self.url = driver, url

    def _wait(self, condition, timeout: float = 120):
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, timeout).until(condition)

    def _el(self, element_id: str):
        return self.driver.find_element("id", element_id)

    def open(self, url: str | None = None) -> None:
        """Load the page and wait until it has asked the API for the model (which also tells if a key is needed)."""
        self.driver.get(url or self.url)
        self._wait(lambda d: d.find_element("id", "model").text != "")

    def fill(self, mode: str = "mutations", **values: str) -> None:
        """Type each value into the field of that id (values over 1,000 characters are set, as a paste would)."""
        self._el(f"mode-{mode}").click()
        for name, value in values.items():
            field = self._el(name)
            if not field.is_displayed():  # folded away under "Decoding": unfold it, as a person would
                self.driver.find_element("css selector", "details > summary").click()
            field.clear()
            if len(value) > 1000:
                self.driver.execute_script("arguments[0].value = arguments[1]", field, value)
            else:
                field.send_keys(value)

    def submit(self) -> None:
        """Click Describe and wait until the request is answered (the button is enabled again)."""
        button = self._el("submit")
        button.click()
        self._wait(lambda d: button.is_enabled())

    def errors(self) -> dict[str, str]:
        """The error shown next to each field (``body``: the mutation box); Selenium reads only what is visible."""
        found = {name: self._el(f"e-{name}").text for name in (*PAGE_FIELDS, "body")}
        return {name: text for name, text in found.items() if text}

    def invalid(self) -> set[str]:
        return {name for name in PAGE_FIELDS if self._el(name).get_attribute("aria-invalid") == "true"}

    def result(self) -> dict[str, str] | None:
        """What the page shows of an answer, or None when it shows none."""
        if not self._el("result").is_displayed():
            return None
        return {name: self._el(name).text for name in ("description", "normalised", "answered-by", "timings")}

    def text(self, element_id: str) -> str:
        return self._el(element_id).text

    def visible(self, element_id: str) -> bool:
        return self._el(element_id).is_displayed()

    def screenshot(self, path: Path) -> Path:
        assert self.driver.save_screenshot(str(path)), path
        return path
