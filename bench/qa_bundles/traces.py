"""The 29 trace bundles: Online Boutique, DeathStarBench's Hotel Reservation and Train Ticket requests, one fault
each, rendered in the style of the tracer or converter that would have written them (`trace_render.Style`)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from bench.qa_bundles.common import QaBundle
from bench.qa_bundles.trace_render import Call, Style, lognormal, walk, write_traces

RPC = {s: f"hipstershop.{c}" for s, c in (
    ("currencyservice", "CurrencyService"), ("productcatalogservice", "ProductCatalogService"),
    ("cartservice", "CartService"), ("recommendationservice", "RecommendationService"), ("adservice", "AdService"),
    ("checkoutservice", "CheckoutService"), ("shippingservice", "ShippingService"),
    ("paymentservice", "PaymentService"), ("emailservice", "EmailService"))}


# ------------------------------------------------------------------------------------------------- requests
def boutique(rng: np.random.Generator, redis_addr: str | None = None, redis_addr2: str | None = None) -> Call:
    """One Online Boutique request: a product page (60%), the home page (25%) or a checkout (15%)."""
    def g(service, method, ms, children=()):
        return Call(service, f"{RPC[service]}/{method}", "grpc", lognormal(rng, ms), list(children))

    def redis(op, addr):
        return Call("redis-cart", op, "cache", lognormal(rng, 0.8), instrumented=False,
                    db={"system": "redis", "name": "0", "stmt": f"{op} cart:*", "port": 6379},
                    peer_addr=addr or redis_addr or "redis-cart")

    def cart(method="GetCart", addr=None):
        return g("cartservice", method, 1.5, [redis("HGET" if method == "GetCart" else "DEL", addr)])

    u = rng.random()
    if u < 0.6:
        return Call("frontend", "GET /product/{id}", "http", lognormal(rng, 4), [
            g("currencyservice", "GetSupportedCurrencies", 1.2), g("productcatalogservice", "GetProduct", 2.0),
            cart(), g("currencyservice", "Convert", 1.0),
            g("recommendationservice", "ListRecommendations", 3.0, [g("productcatalogservice", "ListProducts", 2.5)]),
            g("adservice", "GetAds", 2.5)])
    if u < 0.85:
        return Call("frontend", "GET /", "http", lognormal(rng, 3), [
            g("currencyservice", "GetSupportedCurrencies", 1.2), g("productcatalogservice", "ListProducts", 2.5),
            cart(addr=redis_addr2), g("adservice", "GetAds", 2.5)])
    return Call("frontend", "POST /cart/checkout", "http", lognormal(rng, 5), [
        g("currencyservice", "GetSupportedCurrencies", 1.2),
        g("checkoutservice", "PlaceOrder", 3.0, [
            cart(addr=redis_addr2), g("productcatalogservice", "GetProduct", 2.0),
            g("productcatalogservice", "GetProduct", 2.0), g("currencyservice", "Convert", 1.0),
            g("shippingservice", "GetQuote", 2.0), g("currencyservice", "Convert", 1.0),
            g("paymentservice", "Charge", 4.0), g("shippingservice", "ShipOrder", 2.5),
            cart("EmptyCart", addr=redis_addr2), g("emailservice", "SendOrderConfirmation", 6.0)])])


def hotel(rng: np.random.Generator, mongo_geo_addr: str | None = None, proto: str = "grpc") -> Call:
    """One Hotel Reservation request (Go services, Jaeger clients): search (60%), recommendations (25%) or a
    reservation (15%). ``proto="http"``: every service call over HTTP."""
    def g(service, op, ms, children=()):
        return Call(service, op, proto, lognormal(rng, ms), list(children))

    def db(name, system, ms, op, addr=None, port=27017):
        return Call(name, op, "db", lognormal(rng, ms), instrumented=False,
                    db={"system": system, "name": name.split("-")[-1], "stmt": op, "port": port, "peer_service": name},
                    peer_addr=addr or name)

    def memcached(name):
        return db(name, "memcached", 0.5, "get", port=11211)

    u = rng.random()
    if u < 0.6:
        return Call("frontend", "HTTP GET /hotels", "http", lognormal(rng, 2), [
            g("search", "/search.Search/Nearby", 1.5, [
                g("geo", "/geo.Geo/Nearby", 1.5, [db("mongodb-geo", "mongodb", 2.0, "find", addr=mongo_geo_addr)]),
                g("rate", "/rate.Rate/GetRates", 1.5, [memcached("memcached-rate")])]),
            g("profile", "/profile.Profile/GetProfiles", 1.5, [memcached("memcached-profile")])])
    if u < 0.85:
        return Call("frontend", "HTTP GET /recommendations", "http", lognormal(rng, 2), [
            g("recommendation", "/recommendation.Recommendation/GetRecommendations", 2.0,
              [db("mongodb-recommendation", "mongodb", 1.5, "find")]),
            g("profile", "/profile.Profile/GetProfiles", 1.5, [memcached("memcached-profile")])])
    return Call("frontend", "HTTP POST /reservation", "http", lognormal(rng, 2), [
        g("user", "/user.User/CheckUser", 1.0, [db("mongodb-user", "mongodb", 1.2, "find")]),
        g("reservation", "/reservation.Reservation/MakeReservation", 2.5,
          [memcached("memcached-reserve"), db("mongodb-reservation", "mongodb", 2.0, "insert")])])


def trainticket(rng: np.random.Generator, fanout: int = 1) -> Call:
    """One Train Ticket request (Spring services, Zipkin/Brave): a trip search (65%, ``fanout`` trip and seat
    lookups) or a booking."""
    def h(service, path, ms, children=()):
        return Call(service, f"GET {path}", "http", lognormal(rng, ms), list(children))

    def mongo(name, ms=1.5):
        return Call(name, "find", "db", lognormal(rng, ms), instrumented=False, peer_addr=name,
                    db={"system": "mongodb", "name": "ts", "stmt": "find", "port": 27017, "peer_service": name})

    def basic():
        return h("ts-basic-service", "/api/v1/basicservice/basic/travel", 3, [
            h("ts-station-service", "/api/v1/stationservice/stations/id", 2, [mongo("ts-station-mongo")]),
            h("ts-train-service", "/api/v1/trainservice/trains/{id}", 2, [mongo("ts-train-mongo")]),
            h("ts-route-service", "/api/v1/routeservice/routes/{id}", 2, [mongo("ts-route-mongo")]),
            h("ts-price-service", "/api/v1/priceservice/prices/{id}", 2, [mongo("ts-price-mongo")])])

    if rng.random() < 0.65:
        trips = [h("ts-ticketinfo-service", "/api/v1/ticketinfoservice/ticketinfo", 2, [basic()])
                 for _ in range(fanout)]
        seats = [h("ts-seat-service", "/api/v1/seatservice/seats/left_tickets", 3, [
            h("ts-order-service", "/api/v1/orderservice/order/tickets", 3, [mongo("ts-order-mongo", 2.0)]),
            h("ts-config-service", "/api/v1/configservice/configs/{name}", 1.5, [mongo("ts-config-mongo")])])
            for _ in range(fanout)]
        return Call("ts-gateway-service", "POST /api/v1/travelservice/trips/left", "http", lognormal(rng, 3), [
            h("ts-travel-service", "/api/v1/travelservice/trips/left", 4,
              [call for pair in zip(trips, seats) for call in pair])])
    return Call("ts-gateway-service", "POST /api/v1/preserveservice/preserve", "http", lognormal(rng, 3), [
        h("ts-preserve-service", "/api/v1/preserveservice/preserve", 4, [
            h("ts-security-service", "/api/v1/securityservice/securityConfigs/{id}", 2, [
                h("ts-order-service", "/api/v1/orderservice/order/security", 3, [mongo("ts-order-mongo", 2.0)])]),
            h("ts-contacts-service", "/api/v1/contactservice/contacts/{id}", 2, [mongo("ts-contacts-mongo")]),
            h("ts-order-service", "/api/v1/orderservice/order", 3, [mongo("ts-order-mongo", 2.0)])])])


def with_kafka(rng: np.random.Generator, root: Call, *, system: str = "kafka",
               broker: str = "kafka-0.kafka-headless:9092") -> Call:
    """checkoutservice publishes the order instead of calling emailservice, which consumes it and writes to
    PostgreSQL."""
    for c in walk(root):
        if c.service == "checkoutservice":
            c.children = [child for child in c.children if child.service != "emailservice"]
            c.children.append(Call(
                "emailservice", "orders process", "msg", lognormal(rng, 6.0), async_=True,
                db={"system": system, "dest": "orders", "broker": broker},
                children=[Call("orders-db", "INSERT", "db", lognormal(rng, 1.5), instrumented=False,
                               db={"system": "postgresql", "name": "notifications", "stmt": "INSERT INTO sent",
                                   "port": 5432}, peer_addr="postgres.default.svc.cluster.local")]))
    return root


# ------------------------------------------------------------------------------------------------- faults
def slow(root: Call, rng: np.random.Generator, service: str, ms: float, *, ops=None, share: float = 1.0,
         queued: bool = False) -> None:
    """``service``'s calls (those of ``ops`` only, a ``share`` of them) take about ``ms`` more of their own time,
    or wait that long before the handler (``queued``)."""
    for c in walk(root):
        if c.service == service and (ops is None or any(o in c.op for o in ops)) and rng.random() < share:
            if queued:
                c.pre_ms += lognormal(rng, ms, 0.2)
            else:
                c.own_ms += lognormal(rng, ms, 0.2)


def fail(root: Call, rng: np.random.Generator, service: str, share: float, *, code: int | None = None,
         noconn: bool = False) -> None:
    """A ``share`` of ``service``'s calls fail (with ``code``), or never reach it (``noconn``)."""
    for c in walk(root):
        if c.service == service and rng.random() < share:
            if noconn:
                c.fail_noconn, c.children = True, []
            else:
                c.error, c.code = True, code


def decoys(root: Call, rng: np.random.Generator, current: bool, *, cart_not_found: bool = True) -> None:
    """Noise of the Online Boutique bundles: adservice fails 5% of its calls in both windows; cartservice answers
    NOT_FOUND (the caller's mistake, not an error) more often now; emailservice is 8% slower now."""
    for c in walk(root):
        if c.service == "adservice" and rng.random() < 0.05:
            c.error, c.code = True, 13
        if cart_not_found and c.service == "cartservice" and rng.random() < (0.12 if current else 0.02):
            c.code = 5
        if current and c.service == "emailservice":
            c.own_ms *= 1.08


# ------------------------------------------------------------------------------------------------- bundles
MakeTrace = Callable[[np.random.Generator, bool, bool], Call]


def shop(fault: Callable | None = None, *, cart_not_found: bool = True, request: Callable = boutique) -> MakeTrace:
    """Online Boutique requests with their decoys; ``fault(root, rng)`` applied after the onset."""
    def make(rng, current, faulty):
        root = request(rng)
        decoys(root, rng, current, cart_not_found=cart_not_found)
        if faulty and fault:
            fault(root, rng)
        return root
    return make


def plain(request: Callable, fault: Callable) -> MakeTrace:
    """Requests of ``request(rng)`` without decoys; ``fault(root, rng)`` after the onset."""
    def make(rng, current, faulty):
        root = request(rng)
        if faulty:
            fault(root, rng)
        return root
    return make


def own_time(service: str, ms: float, *, parallel: str | None = None) -> MakeTrace:
    """Online Boutique requests where ``service`` gets ``ms`` slower by itself; ``parallel``'s calls fan out."""
    def make(rng, current, faulty):
        root = boutique(rng)
        decoys(root, rng, current)
        for c in walk(root):
            c.parallel = c.parallel or c.service == parallel
        if faulty:
            slow(root, rng, service, ms)
        return root
    return make


BOUTIQUE, HOTEL, TRAINS, MESH = 6.0, 5.5, 9.0, 12.0
"""Mean seconds between requests. QA sent one every 4 s (2 s with messaging, 8 s with the long traces) over a 2 h
baseline: 705 MB. These send fewer, the fewer the more spans a request has (a mesh doubles them, a Train Ticket
search has 25, a long one 150), so that each bundle holds 3-7 MB and the benchmark writes about 125 MB."""


def _bundle(name: str, source: str, fault: str, node: str, kind: str, make_trace: MakeTrace, *,
            style: Style | None = None, kpi: str | None = None, rate_s: float = BOUTIQUE) -> QaBundle:
    style = style or Style()
    return QaBundle(name=name, family="traces", style=source, fault=fault, node=f"service:{node}", kind=kind,
                    write=lambda folder, scale: write_traces(
                        folder, name=name, style=style, make_trace=make_trace, node=f"service:{node}", kind=kind,
                        note=f"{source}; {fault}", kpi=kpi, rate_s=rate_s, scale=scale))


LAT, ERR = "dependency_latency", "dependency_errors"
JAEGER = {"peer_key": "peer.service", "root_parent": "omit", "trace_bits": 64}
ZIPKIN = {**JAEGER, "http_key": "http.status_code"}
OLD_SEMCONV = {"peer_key": "net.peer.name", "http_key": "http.status_code"}


def _hotel_http(rng: np.random.Generator) -> Call:
    return hotel(rng, proto="http")


def _hotel_geo_by_ip(rng: np.random.Generator) -> Call:
    return hotel(rng, mongo_geo_addr=("10.42.3.17", "10.42.5.9", "10.42.7.33")[int(rng.integers(3))])


def _boutique_two_redis_names(rng: np.random.Generator) -> Call:
    return boutique(rng, redis_addr="redis-cart:6379", redis_addr2="redis-cart.default.svc.cluster.local")


def _retried(root: Call, rng: np.random.Generator) -> None:
    for c in walk(root):
        if c.service == "currencyservice" and rng.random() < 0.5:
            c.attempts = ["noconn"] * (1 + int(rng.random() < 0.3))


def _kafka(rng: np.random.Generator) -> Call:
    return with_kafka(rng, boutique(rng))


def _rabbitmq(rng: np.random.Generator) -> Call:
    return with_kafka(rng, boutique(rng), system="rabbitmq", broker="rabbitmq.default.svc.cluster.local")


SLOW_SHIPPING_QUEUE = shop(partial(slow, service="shippingservice", ms=60, queued=True), cart_not_found=False)
FAIL_USER = plain(hotel, partial(fail, service="user", share=0.5))

TRACE_BUNDLES = (
    _bundle("b01_otel_new_slow_catalog", "OTel SDK, current semconv", "+40 ms on every span", "productcatalogservice",
            LAT, shop(partial(slow, service="productcatalogservice", ms=40)), kpi="latency"),
    _bundle("b02_otel_old_fail_payment", "OTel old semconv, enum names", "40% fail UNAVAILABLE", "paymentservice",
            ERR, shop(partial(fail, service="paymentservice", share=0.4, code=14)),
            style=Style(kind_fmt="name", status_fmt="name", **OLD_SEMCONV), kpi="errors"),
    _bundle("b03_http_unset_fail_rate", "HTTP, server status unset", "50% answer 503", "rate", ERR,
            plain(_hotel_http, partial(fail, service="rate", share=0.5, code=503)),
            style=Style(server_status_from_code_only=True), rate_s=HOTEL),
    _bundle("b04_jaeger_slow_mongo_geo", "Jaeger via Collector", "+25 ms per find (no spans)", "mongodb-geo", LAT,
            plain(hotel, partial(slow, service="mongodb-geo", ms=25)), style=Style(**JAEGER), kpi="latency",
            rate_s=HOTEL),
    _bundle("b05_jaeger_tags_fail_reservation", "Jaeger tags (error, span.kind)", "60% fail", "reservation", ERR,
            plain(hotel, partial(fail, service="reservation", share=0.6)),
            style=Style(kind_fmt="attr", status_fmt="tag", **JAEGER), rate_s=HOTEL),
    _bundle("b06_jaeger_otel_status_attr_fail_user", "Jaeger, otel.status_code tag", "50% fail", "user", ERR,
            FAIL_USER, style=Style(status_fmt="otel", peer_key="peer.service", root_parent="omit"), rate_s=HOTEL),
    _bundle("b07_zipkin_shared_slow_order", "Zipkin B3 shared spans", "+30 ms", "ts-order-service", LAT,
            plain(trainticket, partial(slow, service="ts-order-service", ms=30)),
            style=Style(zipkin_shared=True, **ZIPKIN), kpi="latency", rate_s=TRAINS),
    _bundle("b08_zipkin_tag_fail_seat", "Zipkin error tag", "50% fail", "ts-seat-service", ERR,
            plain(trainticket, partial(fail, service="ts-seat-service", share=0.5)),
            style=Style(status_fmt="tag", http_client_unset=False, **ZIPKIN), rate_s=TRAINS),
    _bundle("b09_istio_app_fail_cart", "Istio sidecars + app spans", "40% fail UNAVAILABLE", "cartservice", ERR,
            shop(partial(fail, service="cartservice", share=0.4, code=14), cart_not_found=False),
            style=Style(mesh="svcns"), kpi="errors", rate_s=MESH),
    _bundle("b10_istio_sidecar_only_noconn_cart", "Istio sidecars only", "40% 503 UF, never reached", "cartservice",
            ERR, shop(partial(fail, service="cartservice", share=0.4, noconn=True), cart_not_found=False),
            style=Style(mesh="svcns", mesh_app_spans=False), kpi="errors", rate_s=MESH),
    _bundle("b11_istio_proxy_slow_shipping_queue", "Istio, sidecars named istio-proxy", "waits 60 ms before handler",
            "shippingservice", LAT, SLOW_SHIPPING_QUEUE, style=Style(mesh="istio-proxy"), kpi="latency", rate_s=MESH),
    _bundle("b12_kafka_links_slow_consumer", "Kafka, consumer linked", "consumer +80 ms", "emailservice", LAT,
            shop(partial(slow, service="emailservice", ms=80), request=_kafka)),
    _bundle("b13_rabbit_parent_slow_consumer", "RabbitMQ, consumer as child", "consumer +80 ms", "emailservice", LAT,
            shop(partial(slow, service="emailservice", ms=80), request=_rabbitmq), style=Style(links=False),
            kpi="latency"),
    _bundle("b14_db_ip_replicas_slow", "OTel, DB dialled by pod IP", "+20 ms per find (no spans)", "mongodb-geo", LAT,
            plain(_hotel_geo_by_ip, partial(slow, service="mongodb-geo", ms=20)), kpi="latency", rate_s=HOTEL),
    _bundle("b15_redis_dns_port_spellings_slow", "OTel old semconv, 2 host spellings", "+15 ms per command",
            "redis-cart", LAT, shop(partial(slow, service="redis-cart", ms=15), request=_boutique_two_redis_names),
            style=Style(**OLD_SEMCONV), kpi="latency"),
    _bundle("b16_retries_noconn_currency", "OTel, retried client spans", "50% refused, retried", "currencyservice",
            ERR, shop(_retried), kpi="latency"),
    _bundle("b17_noconn_fail_payment", "OTel, client span only", "40% refused", "paymentservice", ERR,
            shop(partial(fail, service="paymentservice", share=0.4, noconn=True)), kpi="errors"),
    _bundle("b18_partial_skew_fail_payment", "OTel, sampled out + clock skew", "40% fail INTERNAL", "paymentservice",
            ERR, shop(partial(fail, service="paymentservice", share=0.4, code=13)),
            style=Style(drop={"checkoutservice": 0.5}, skew_ms={"paymentservice": -80, "shippingservice": 120}),
            kpi="errors"),
    _bundle("b19_long_traces_skew_slow_price", "OTel, ~150-span traces + skew", "+8 ms on ~12 calls per trace",
            "ts-price-service", LAT, plain(partial(trainticket, fanout=12), partial(slow, service="ts-price-service",
                                                                                   ms=8)),
            style=Style(skew_ms={"ts-basic-service": 35, "ts-price-service": -20}), kpi="latency", rate_s=48.0),
    _bundle("b20_slow_some_ops_cart_partial", "OTel, kind enum names", "GetCart +25 ms on 70%", "cartservice", LAT,
            shop(partial(slow, service="cartservice", ms=25, ops=["GetCart"], share=0.7)),
            style=Style(kind_fmt="name")),
    _bundle("b21_jaeger_error_tag_only_fail_reservation", "Jaeger tags, no codes", "60% fail", "reservation", ERR,
            plain(hotel, partial(fail, service="reservation", share=0.6)),
            style=Style(kind_fmt="attr", status_fmt="tag", codes=False, **JAEGER), rate_s=HOTEL),
    _bundle("b22_zipkin_error_msg_only_fail_seat", "Zipkin error message, no codes", "50% fail", "ts-seat-service",
            ERR, plain(trainticket, partial(fail, service="ts-seat-service", share=0.5)),
            style=Style(status_fmt="tag_msg", codes=False, **ZIPKIN), rate_s=TRAINS),
    _bundle("b23_postgres_uninstrumented_fail", "OTel, DB without spans", "30% of finds fail", "ts-order-mongo", ERR,
            plain(trainticket, partial(fail, service="ts-order-mongo", share=0.3)), kpi="errors", rate_s=TRAINS),
    _bundle("b24_zipkin_shared_fail_order", "Zipkin B3 shared spans", "40% fail", "ts-order-service", ERR,
            plain(trainticket, partial(fail, service="ts-order-service", share=0.4)),
            style=Style(zipkin_shared=True, **ZIPKIN), kpi="errors", rate_s=TRAINS),
    _bundle("b25_istio_svcns_slow_shipping_queue", "Istio, sidecars named {app}.default", "waits 60 ms before handler",
            "shippingservice", LAT, SLOW_SHIPPING_QUEUE, style=Style(mesh="svcns"), kpi="latency", rate_s=MESH),
    _bundle("b26_parallel_fanout_slow_frontend_own", "OTel, parallel fan-out", "frontend's own time +30 ms",
            "frontend", LAT, own_time("frontend", 30, parallel="frontend"), kpi="latency"),
    _bundle("b27_parallel_fanout_slow_checkout_own", "OTel, parallel fan-out", "checkout's own time +12 ms",
            "checkoutservice", LAT, own_time("checkoutservice", 12, parallel="checkoutservice"), kpi="latency"),
    _bundle("b28_sequential_slow_checkout_own", "OTel, sequential calls", "checkout's own time +12 ms",
            "checkoutservice", LAT, own_time("checkoutservice", 12), kpi="latency"),
    _bundle("b29_otel_status_attr_only_fail_user", "otel.status_code tag, no codes", "50% fail", "user", ERR,
            FAIL_USER, style=Style(status_fmt="otel", peer_key="peer.service", root_parent="omit", codes=False),
            rate_s=HOTEL),
)
