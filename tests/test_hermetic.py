"""Tests are hermetic: a download attempt fails loudly, in the test process and in subprocesses."""

from __future__ import annotations

import os
import socket

import pytest

from conftest import run_python


def test_hub_is_offline():
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_network_is_blocked_in_the_test_process():
    from pytest_socket import SocketConnectBlockedError

    with pytest.raises(SocketConnectBlockedError, match="tried to use socket"):
        socket.create_connection(("93.184.215.14", 80), timeout=2)


def test_network_is_blocked_in_snippet_subprocesses():
    code = "import urllib.request; urllib.request.urlopen('https://huggingface.co', timeout=5)"
    result = run_python(["-c", code], timeout=60)
    assert result.returncode != 0
    assert "network access blocked in the book's tests" in result.stderr


def test_hub_download_fails_loudly_in_subprocesses():
    code = "from transformers import AutoConfig; AutoConfig.from_pretrained('gpt2')"
    result = run_python(["-c", code], timeout=120)
    assert result.returncode != 0 and ("offline" in result.stderr.lower() or "blocked" in result.stderr)


def test_warnings_from_the_book_code_are_errors_in_subprocesses():
    code = "import warnings, genai_guide.attention as a; warnings.warn_explicit('x', UserWarning, 'f', 1, module='genai_guide.attention')"
    result = run_python(["-c", code], timeout=60)
    assert result.returncode != 0 and "UserWarning" in result.stderr
