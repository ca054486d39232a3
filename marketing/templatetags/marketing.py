"""Template tags of the marketing pages."""

from django import template
from django.urls import Resolver404, resolve, reverse

register = template.Library()

QUICKSTART = "/docs/quickstart"


@register.simple_tag
def docs_url() -> str:
    """Where the header's "Docs" leads: the quickstart guide, or the API reference on a build that has none."""
    try:
        resolve(QUICKSTART)
    except Resolver404:
        return reverse("redoc")
    return QUICKSTART
