# Placeholder until the compatibility routes land (being written now).
urlpatterns: list = []
