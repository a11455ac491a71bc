# credit-meter on Debian, linked against Debian's librdkafka.
#   docker build -t credit-meter .
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
ENV CREDIT_METER_SNAPSHOTS_DIR=/var/lib/credit-meter/snapshots
USER nobody
ENTRYPOINT ["credit-meter"]
CMD ["run", "--config", "/etc/credit-meter/credit-meter.yaml"]
