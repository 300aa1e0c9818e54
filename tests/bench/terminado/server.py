"""The terminado peer of `tests/bench/run terminal`: named terminals shared by every WebSocket on a name, the way
JupyterLab's terminal backend serves them. Prints `listening PORT` once it accepts connections on 127.0.0.1."""

import argparse

import tornado.httpserver
import tornado.ioloop
import tornado.netutil
import tornado.web
from terminado import NamedTermManager, TermSocket


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shell", required=True, help="the program every terminal runs")
    parser.add_argument("--cwd", required=True, help="where it starts")
    args = parser.parse_args()
    manager = NamedTermManager(shell_command=[args.shell], term_settings={"cwd": args.cwd})
    app = tornado.web.Application([(r"/websocket/(\w+)/?", TermSocket, {"term_manager": manager})])
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets(sockets)
    print(f"listening {sockets[0].getsockname()[1]}", flush=True)
    tornado.ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
