"""kiln.Logger: the stderr default, Python subclasses, and exceptions raised by them."""

import sys

import pytest

import kiln
from conftest import RecordingLogger, mlp_model


def build(logger):
    return kiln.build(mlp_model(), shapes={"x": (2, 4)}, logger=logger)


def test_subclass_receives_messages_from_parser_and_builder():
    logger = RecordingLogger()
    build(logger)
    severities = {severity for severity, _ in logger.messages}
    assert severities <= set(kiln.Logger.Severity.__members__.values())
    assert kiln.Logger.INFO in severities
    assert any("imported ONNX graph" in message for _, message in logger.messages)
    assert any("built engine" in message for _, message in logger.messages)


def test_default_logger_prints_at_or_above_its_severity(capfd):
    build(kiln.Logger(kiln.Logger.ERROR))
    assert capfd.readouterr().err == ""
    verbose = kiln.Logger(kiln.Logger.INFO)
    assert verbose.min_severity == kiln.Logger.Severity.INFO
    build(verbose)
    err = capfd.readouterr().err
    assert "[kiln] I: imported ONNX graph" in err
    verbose.min_severity = kiln.Logger.WARNING
    build(verbose)
    assert "[kiln] I:" not in capfd.readouterr().err


def test_ilogger_is_the_subclassable_logger():
    class Counting(kiln.ILogger):
        def __init__(self):
            kiln.ILogger.__init__(self)
            self.count = 0

        def log(self, severity, message):
            self.count += 1

    logger = Counting()
    build(logger)
    assert logger.count >= 2


def test_exception_in_log_does_not_break_the_build(monkeypatch):
    reported = []
    monkeypatch.setattr(sys, "unraisablehook", lambda info: reported.append(info.exc_value))

    class Failing(kiln.Logger):
        def log(self, severity, message):
            raise RuntimeError("logger failed")

    engine = build(Failing())
    assert engine.engine.num_io_tensors == 2
    assert reported and all(isinstance(e, RuntimeError) for e in reported)


@pytest.mark.filterwarnings("ignore:nanobind")
def test_logger_without_init_is_refused():
    class Forgetful(kiln.Logger):
        def __init__(self):
            pass

    with pytest.raises(TypeError):
        kiln.Builder(Forgetful())
