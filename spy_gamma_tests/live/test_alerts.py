"""Positioning alerts between two re-pricings, and their delivery to a local webhook."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from spy_gamma.live.alerts import AlertRules, alerts_between, post_alerts

BEFORE = {"spot": 660.0, "regime": "dealers long gamma (dampening)", "gamma_flip": 655.0, "call_wall": 665.0,
          "put_wall": 650.0, "prob_dealers_long_gamma": 0.7}


DEFAULT_RULES = AlertRules()  # flip and walls may move $1.00


def kinds(after: dict, rules: AlertRules = DEFAULT_RULES) -> list[str]:
    return [a["kind"] for a in alerts_between(BEFORE, {**BEFORE, **after}, rules)]


def test_nothing_changes_nothing_raised_and_first_row_raises_nothing():
    assert kinds({}) == []
    assert alerts_between(None, BEFORE, AlertRules()) == []


def test_each_shift_raises_its_alert():
    assert kinds({"regime": "dealers short gamma (amplifying)"}) == ["regime_change"]
    # spot 660 -> 654 with the flip at 655: spot now below it (and the flip did not move)
    assert kinds({"spot": 654.0}) == ["spot_crossed_flip"]
    assert kinds({"gamma_flip": 656.5}) == ["flip_moved"]  # moved 1.50 > 1.00
    assert kinds({"gamma_flip": 655.5}) == []  # 0.50: within the allowed move
    assert kinds({"call_wall": 667.0, "put_wall": 649.5}) == ["call_wall_moved"]
    assert kinds({"put_wall": 648.0}, AlertRules(wall_move_usd=5.0)) == []
    assert kinds({"prob_dealers_long_gamma": 0.45}) == ["prob_long_gamma_crossed_50"]
    assert kinds({"gamma_flip": None}) == ["flip_moved"]


def test_alerts_are_posted_to_the_webhook_as_json():
    received = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        raised = alerts_between(BEFORE, {**BEFORE, "regime": "dealers short gamma (amplifying)"}, AlertRules())
        assert post_alerts(f"http://127.0.0.1:{server.server_port}/hook", raised)
    finally:
        server.shutdown()
    assert received == [[{"kind": "regime_change", "spot": 660.0,
                          "message": "regime: dealers long gamma (dampening) -> dealers short gamma (amplifying)"}]]


def test_an_unreachable_webhook_is_not_fatal():
    server = HTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = server.server_port
    server.server_close()  # nothing listens there now
    assert post_alerts(f"http://127.0.0.1:{port}/hook", [{"kind": "x"}], timeout_s=2) is False
