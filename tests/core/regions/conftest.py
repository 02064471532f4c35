"""Shared fixtures of the image building-block tests."""

from __future__ import annotations


import pytest


@pytest.fixture(autouse=True)
def single_blas_thread():
    """Run nilearn with one BLAS thread, as our random walker does.

    scipy's cg sums its dot products differently with 2 OpenBLAS threads
    (probabilities differ by ~1e-14), so the oracle comparison is made at equal
    thread count; it also keeps nilearn's cg from crawling on a busy CI machine.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield
