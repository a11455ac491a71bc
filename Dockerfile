# credit-meter on Debian, linked against Debian's librdkafka (2.0.2).
#   docker build -t credit-meter .
#   docker run -p 8080:8080 -e CREDIT_METER_KAFKA_BOOTSTRAP_SERVERS=broker:9092 credit-meter
# Not built on the development machine (no Docker engine there): kept correct by reading.
FROM swift:6.3-bookworm AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y librdkafka-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --product credit-meter

FROM swift:6.3-bookworm-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y librdkafka1 \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/lib/credit-meter/snapshots && chown -R nobody /var/lib/credit-meter
COPY --from=build /src/.build/release/credit-meter /usr/local/bin/credit-meter
COPY configs /etc/credit-meter
# In a container HTTP must listen on every interface, or `-p 8080:8080` reaches nothing.
ENV CREDIT_METER_SNAPSHOTS_DIR=/var/lib/credit-meter/snapshots \
    CREDIT_METER_HTTP_LISTEN=0.0.0.0:8080
EXPOSE 8080
# Readiness (restored, caught up): GET /readyz on 127.0.0.1 at http.listen's port. The slim
# image has no curl; `credit-meter health` follows CREDIT_METER_HTTP_LISTEN by itself.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["credit-meter", "health", "--config", "/etc/credit-meter/credit-meter.yaml"]
USER nobody
ENTRYPOINT ["credit-meter"]
CMD ["run", "--config", "/etc/credit-meter/credit-meter.yaml"]
