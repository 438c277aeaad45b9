"""A FIX 4.4 exchange simulator for the execution tests: a real QuickFIX acceptor.

It accepts one initiator session (SenderCompID EXCH, TargetCompID QPNODE by default)
on 127.0.0.1, keeps QuickFIX's file store under --store, and answers orders:

- NewOrderSingle: a limit order is acknowledged (ExecType/OrdStatus New) and then
  filled in full at its limit price, unless its symbol is REJECT (rejected, OrdRejReason
  0) or its quantity is above --max-qty (rejected, OrdRejReason 3, "order exceeds limit").
  A market order is filled at --market-price.
- OrderCancelRequest: an order the simulator still knows as open (quantity
  above --fill-limit is left open instead of filled, so cancels have something to
  find) is cancelled; otherwise OrderCancelReject (CxlRejReason 1, unknown order).

Session behaviour (logon, heartbeats, test requests, resend requests answered from the
store, gap fills, sequence resets) is QuickFIX's own. The script prints
`READY <port>` on stdout once it listens, and one line per application message
it receives (`IN <msgtype> <ClOrdID> seq=<MsgSeqNum> possdup=<Y|N>`), so a test can
wait for it and tell a resend (PossDupFlag=Y) from a new message. Stop it with
SIGTERM or by closing stdin.

Run by the tests with the project venv's python (`cargo xtask setup` installs the
quickfix-tls wheel there); nothing here reaches beyond 127.0.0.1.
"""

import argparse
import os
import sys
import threading

import quickfix as fix

SOH_SETTINGS = """[DEFAULT]
ConnectionType=acceptor
SocketAcceptHost=127.0.0.1
SocketAcceptPort={port}
FileStorePath={store}
FileLogPath={log}
StartTime=00:00:00
EndTime=00:00:00
UseDataDictionary=Y
DataDictionary={dictionary}
ValidateUserDefinedFields=N
ResetOnLogon={reset_on_logon}
PersistMessages=Y
SocketNodelay=Y

[SESSION]
BeginString=FIX.4.4
SenderCompID={sender}
TargetCompID={target}
HeartBtInt=30
"""


class Exchange(fix.Application):
    def __init__(self, args):
        super().__init__()
        self.args = args
        self.next_id = 0
        self.open_orders = {}
        self.lock = threading.Lock()

    def onCreate(self, session_id):
        pass

    def onLogon(self, session_id):
        print(f"LOGON {session_id}", flush=True)

    def onLogout(self, session_id):
        print(f"LOGOUT {session_id}", flush=True)

    def toAdmin(self, message, session_id):
        pass

    def fromAdmin(self, message, session_id):
        pass

    def toApp(self, message, session_id):
        pass

    def fromApp(self, message, session_id):
        msg_type = fix.MsgType()
        message.getHeader().getField(msg_type)
        cl_ord_id = get(message, fix.ClOrdID())
        header = message.getHeader()
        seq = get(header, fix.MsgSeqNum())
        poss_dup = "Y" if get(header, fix.PossDupFlag()) else "N"
        print(f"IN {msg_type.getValue()} {cl_ord_id} seq={seq} possdup={poss_dup}", flush=True)
        if msg_type.getValue() == fix.MsgType_NewOrderSingle:
            self.new_order(message, session_id)
        elif msg_type.getValue() == fix.MsgType_OrderCancelRequest:
            self.cancel(message, session_id)

    def order_id(self):
        with self.lock:
            self.next_id += 1
            return f"X{self.next_id}"

    def report(self, session_id, order, exec_type, ord_status, cum_qty, last_qty, last_px, text=None, reason=None):
        report = fix.Message()
        report.getHeader().setField(fix.MsgType(fix.MsgType_ExecutionReport))
        report.setField(fix.OrderID(order["order_id"]))
        report.setField(fix.ExecID(self.order_id()))
        report.setField(fix.ClOrdID(order["cl_ord_id"]))
        report.setField(fix.ExecType(exec_type))
        report.setField(fix.OrdStatus(ord_status))
        report.setField(fix.Symbol(order["symbol"]))
        report.setField(fix.Side(order["side"]))
        report.setField(fix.OrderQty(order["qty"]))
        report.setField(fix.LeavesQty(0 if ord_status in ("2", "4", "8") else order["qty"] - cum_qty))
        report.setField(fix.CumQty(cum_qty))
        report.setField(fix.AvgPx(last_px if cum_qty else 0))
        if last_qty:
            report.setField(fix.LastQty(last_qty))
            report.setField(fix.LastPx(last_px))
        if reason is not None:
            report.setField(fix.OrdRejReason(reason))
        if text:
            report.setField(fix.Text(text))
        fix.Session.sendToTarget(report, session_id)

    def new_order(self, message, session_id):
        order = {
            "order_id": self.order_id(),
            "cl_ord_id": get(message, fix.ClOrdID()),
            "symbol": get(message, fix.Symbol()),
            "side": get(message, fix.Side()),
            "qty": float(get(message, fix.OrderQty())),
        }
        ord_type = get(message, fix.OrdType())
        price = float(get(message, fix.Price()) or 0) if ord_type == fix.OrdType_LIMIT else self.args.market_price
        if order["symbol"] == "REJECT":
            self.report(session_id, order, fix.ExecType_REJECTED, fix.OrdStatus_REJECTED, 0, 0, 0, "unknown symbol", 0)
            return
        if order["qty"] > self.args.max_qty:
            self.report(session_id, order, fix.ExecType_REJECTED, fix.OrdStatus_REJECTED, 0, 0, 0, "order exceeds limit", 3)
            return
        self.report(session_id, order, fix.ExecType_NEW, fix.OrdStatus_NEW, 0, 0, 0)
        if order["qty"] > self.args.fill_limit:
            with self.lock:
                self.open_orders[order["cl_ord_id"]] = order
            return
        self.report(session_id, order, fix.ExecType_TRADE, fix.OrdStatus_FILLED, order["qty"], order["qty"], price)

    def cancel(self, message, session_id):
        orig = get(message, fix.OrigClOrdID())
        with self.lock:
            order = self.open_orders.pop(orig, None)
        if order is None:
            reject = fix.Message()
            reject.getHeader().setField(fix.MsgType(fix.MsgType_OrderCancelReject))
            reject.setField(fix.OrderID("NONE"))
            reject.setField(fix.ClOrdID(get(message, fix.ClOrdID())))
            reject.setField(fix.OrigClOrdID(orig))
            reject.setField(fix.OrdStatus(fix.OrdStatus_REJECTED))
            reject.setField(fix.CxlRejResponseTo(fix.CxlRejResponseTo_ORDER_CANCEL_REQUEST))
            reject.setField(fix.CxlRejReason(fix.CxlRejReason_UNKNOWN_ORDER))
            fix.Session.sendToTarget(reject, session_id)
            return
        order["cl_ord_id"] = get(message, fix.ClOrdID())
        self.report(session_id, order, fix.ExecType_CANCELED, fix.OrdStatus_CANCELED, 0, 0, 0)


def get(message, field):
    if message.isSetField(field.getField()):
        message.getField(field)
        return field.getValue()
    return ""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--store", required=True, help="folder for QuickFIX's file store and logs")
    parser.add_argument("--dictionary", required=True, help="FIX44.xml")
    parser.add_argument("--sender", default="EXCH")
    parser.add_argument("--target", default="QPNODE")
    parser.add_argument("--max-qty", type=float, default=1_000_000)
    parser.add_argument("--fill-limit", type=float, default=1_000)
    parser.add_argument("--market-price", type=float, default=100.0)
    parser.add_argument("--reset-on-logon", default="N", choices=["Y", "N"])
    args = parser.parse_args()

    os.makedirs(args.store, exist_ok=True)
    config = os.path.join(args.store, "acceptor.cfg")
    with open(config, "w") as out:
        out.write(
            SOH_SETTINGS.format(
                port=args.port,
                store=os.path.join(args.store, "store"),
                log=os.path.join(args.store, "log"),
                dictionary=args.dictionary,
                sender=args.sender,
                target=args.target,
                reset_on_logon=args.reset_on_logon,
            )
        )
    settings = fix.SessionSettings(config)
    application = Exchange(args)
    acceptor = fix.SocketAcceptor(
        application, fix.FileStoreFactory(settings), settings, fix.FileLogFactory(settings)
    )
    acceptor.start()
    print(f"READY {args.port}", flush=True)
    try:
        # Until stdin closes or the process is terminated.
        sys.stdin.read()
    except KeyboardInterrupt:
        pass
    finally:
        acceptor.stop()


if __name__ == "__main__":
    main()
