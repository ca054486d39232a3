from django.contrib.sitemaps import Sitemap
from django.urls import reverse


class MarketingSitemap(Sitemap):
    changefreq = "weekly"

    def items(self):
        return [
            "marketing:home",
            "marketing:pricing",
            "marketing:faq",
            "marketing:quickstart",
            "marketing:privacy",
            "marketing:terms",
        ]

    def location(self, item):
        return reverse(item)

    def priority(self, item):
        return 1.0 if item == "marketing:home" else 0.6
