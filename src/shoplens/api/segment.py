"""Segment HTTP tracking API compatibility (to be filled in)."""

from fastapi import APIRouter

router = APIRouter(tags=["segment"])
