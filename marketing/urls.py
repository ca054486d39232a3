from django.urls import path
from django.views.generic import TemplateView

app_name = "marketing"

urlpatterns = [
    path("", TemplateView.as_view(template_name="marketing/home.html"), name="home"),
]
