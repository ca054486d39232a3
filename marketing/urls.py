from django.contrib.sitemaps.views import sitemap
from django.urls import path
from django.views.generic import TemplateView

from . import views
from .sitemaps import MarketingSitemap

app_name = "marketing"

urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
    path("pricing", views.PricingView.as_view(), name="pricing"),
    path("faq", views.FaqView.as_view(), name="faq"),
    path("privacy", TemplateView.as_view(template_name="marketing/privacy.html"), name="privacy"),
    path("docs/quickstart", views.QuickstartView.as_view(), name="quickstart"),
    path("terms", TemplateView.as_view(template_name="marketing/terms.html"), name="terms"),
    path("news", views.lead_subscribe, name="lead"),
    path("news/sent", TemplateView.as_view(template_name="marketing/lead_sent.html"), name="lead_sent"),
    path("news/confirm/<str:token>", views.lead_confirm, name="lead_confirm"),
    path("demo/speak", views.demo_speak, name="demo_speak"),
    path("samples/<str:voice_id>.mp3", views.sample, name="sample"),
    path("events", views.EventsView.as_view(), name="events"),
    path("robots.txt", views.robots_txt, name="robots"),
    path("favicon.ico", views.favicon, name="favicon"),
    path(
        "sitemap.xml",
        sitemap,
        {"sitemaps": {"marketing": MarketingSitemap}, "template_name": "marketing/sitemap.xml"},
        name="sitemap",
    ),
]
