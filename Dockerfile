# syntax=docker/dockerfile:1
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /imreport ./cmd/imreport

FROM gcr.io/distroless/static:nonroot
COPY --from=build /imreport /imreport
USER 65532:65532
ENTRYPOINT ["/imreport"]
CMD ["run"]
