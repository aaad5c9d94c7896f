# syntax=docker/dockerfile:1.7
# Central's re-analysis worker for NVIDIA GPUs: `vigia central worker` on ONNX Runtime's CUDA execution
# provider (the worker picks the GPU providers present, CPU as the fallback). The CUDA and cuDNN runtime
# libraries come from NVIDIA's image; the driver comes from the node (NVIDIA's device plugin).
# Built from the repository root, like the CPU image:
#   docker build -f deploy/docker/worker-gpu.Dockerfile --build-context models=../shared/models \
#     -t vigia-central-worker-gpu:0.1.0 .
# Base images pinned by version; pin them by digest too (FROM image:tag@sha256:...) where a registry is reachable.

ARG CUDA_IMAGE=nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04

# 1. Vigia, central's dependencies and ONNX Runtime built for CUDA 12, in a virtual environment; the model store.
FROM ${CUDA_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 DEBIAN_FRONTEND=noninteractive
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
RUN python3 -m venv /opt/vigia/venv
COPY pyproject.toml README.md ./
COPY app/ app/
COPY appliance/ appliance/
COPY central/ central/
COPY inference/ inference/
COPY kit/ kit/
COPY local_ui/ local_ui/
COPY provisioning/ provisioning/
COPY scene/ scene/
COPY sync/ sync/
RUN /opt/vigia/venv/bin/pip install ".[central]" \
 && /opt/vigia/venv/bin/pip uninstall -y onnxruntime \
 && /opt/vigia/venv/bin/pip install "onnxruntime-gpu>=1.18,<2"
COPY --from=models yolox_nano.onnx /tmp/models/
RUN /opt/vigia/venv/bin/vigia models import /tmp/models/yolox_nano.onnx --store /opt/vigia/models

# 2. The runtime: the CUDA runtime image, Python, the venv; a non-root user.
FROM ${CUDA_IMAGE} AS runtime
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends python3 libgomp1 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 vigia \
 && useradd --system --uid 10001 --gid vigia --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin vigia
COPY --from=build /opt/vigia/venv /opt/vigia/venv
COPY --from=build /opt/vigia/models /opt/vigia/models
ENV PATH=/opt/vigia/venv/bin:$PATH \
    VIGIA_DATA_DIR=/tmp/vigia \
    PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 MALLOC_ARENA_MAX=2
USER 10001:10001
WORKDIR /tmp
ENTRYPOINT ["vigia"]
CMD ["central", "worker", "--help"]
