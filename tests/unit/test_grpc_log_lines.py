"""What grpc's own server code logs when a client causes it: counted, one line without a traceback
at most every few seconds, never an ERROR with a traceback per call."""

import logging

from grpc._cython import cygrpc
from prometheus_client import REGISTRY

from services.runtime.server import GrpcLogLines


def counted(event: str) -> float:
    return REGISTRY.get_sample_value("recordstore_grpc_log_events_total", {"event": event}) or 0.0


def grpc_logger(caplog) -> logging.Logger:
    """A logger that gets the filter as grpc's own (grpc._cython.cygrpc) does in a service."""
    logger = logging.getLogger("tests.grpc-log-lines")
    for old in list(logger.filters):
        logger.removeFilter(old)
    logger.addFilter(GrpcLogLines())
    caplog.set_level(logging.DEBUG, logger=logger.name)
    return logger


def test_metadata_that_is_not_utf8_is_counted_each_time_and_written_once_without_a_traceback(caplog):
    logger = grpc_logger(caplog)
    before = counted("metadata_not_utf8")
    for _ in range(3):  # as grpc's _decode logs it, each time a call's metadata is read
        try:
            b"a\xffb".decode("utf8")
        except UnicodeDecodeError:
            logger.exception("Invalid encoding on %s", b"a\xffb")
    assert counted("metadata_not_utf8") == before + 3
    [line] = caplog.records
    assert (line.levelname, line.exc_info, line.exc_text) == ("WARNING", None, None)
    assert line.getMessage() == ("a call's metadata value is not UTF-8, read as Latin-1: b'a\\xffb' "
                                 "(0 more since the last such line, not written)")


def test_an_answer_the_client_left_is_one_line_naming_the_method_and_other_lines_pass(caplog):
    logger = grpc_logger(caplog)
    before = counted("answer_not_sent")
    for _ in range(2):
        try:
            raise cygrpc.ExecuteBatchError("Failed \"execute_batch\"")
        except cygrpc.ExecuteBatchError:
            logger.exception("ExecuteBatchError raised in core by servicer method [%s]" % "/x.v1.S/M")
    logger.warning("Aborting method [%s] due to server stop.", "/x.v1.S/M")
    assert counted("answer_not_sent") == before + 2
    first, other = caplog.records
    assert first.getMessage().startswith("a client left before its answer: [/x.v1.S/M]") and first.exc_info is None
    assert other.getMessage() == "Aborting method [/x.v1.S/M] due to server stop."


def test_the_next_line_says_how_many_were_not_written(caplog):
    logger = grpc_logger(caplog)
    lines = logger.filters[0]
    for _ in range(4):
        logger.error("Invalid encoding on %s", b"\xe9")
    lines._next.clear()  # as if LOG_EVERY_SECONDS had passed
    logger.error("Invalid encoding on %s", b"\xe9")
    assert [r.getMessage().rsplit(" (", 1)[1] for r in caplog.records] == [
        "0 more since the last such line, not written)", "3 more since the last such line, not written)"]
