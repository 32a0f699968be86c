"""An INVITE its call no longer drives: CANCEL, ACK for every 2xx, BYE for forks (RFC 3261 §9.1, §13.2.2.4)."""

from intercom.sip.dialog import Dialog
from intercom.sip.invite_transaction import mirror_request

MAX_FORKS = 8        # 2xx from distinct forks remembered for re-ACKing; more still get ACK + BYE


def ack_for_2xx(mgr, dialog, cseq, invite=None):
    """Send the ACK for a 2xx end to end (§13.2.2.4): a new branch, the
    INVITE's CSeq number and the INVITE's credentials, if it had any (a
    proxy that challenged the INVITE checks the ACK too); our INVITEs carry
    the offer, so no body. Returns (bytes, addr) for re-sending it, or None
    if unroutable."""
    req, hop = dialog.new_request(mgr.ua, "ACK", cseq=cseq)
    if invite is not None:
        for key in ("authorization", "proxy-authorization"):
            for value in invite.get_all(key):
                req.add("Proxy-Authorization" if key[0] == "p" else "Authorization", value)
    addr = mgr.resolve(hop)
    if addr is None:
        return None
    mgr.ua.layer.route(req, addr)
    data = req.encode()
    mgr.ua.send_raw(data, addr)
    return data, addr


def bye_dialog(mgr, dialog):
    """End a dialog nobody wants (a fork, or an answer after we gave up)
    with a BYE whose transaction outlives everything else (§15)."""
    req, hop = dialog.new_request(mgr.ua, "BYE")
    req.add("User-Agent", mgr.ua.USER_AGENT)
    addr = mgr.resolve(hop)
    if addr is not None:
        mgr.ua.layer.start_client(req, addr, mgr.orphan_tu)


class InviteLeftover:
    """Transaction user of an INVITE client transaction whose call has
    either ended before an answer (hang-up, ring timeout) or is connected
    to one chosen dialog. Every 2xx is ACKed; a 2xx of a dialog other
    than the chosen one also gets a BYE (a parallel-forking proxy may
    deliver several, §13.2.2.4). While the INVITE is unanswered it sends
    the CANCEL as soon as a provisional response allows it (§9.1).

    Built from either the INVITE itself (call ended unanswered) or the
    chosen dialog (call connected; the INVITE was dropped to save heap)."""

    def __init__(self, mgr, cseq, invite=None, chosen=None, chosen_ack=None):
        self.mgr = mgr
        self.cseq = cseq              # the INVITE's CSeq number, for the ACKs and BYEs
        self.invite = invite          # kept only while a CANCEL may still be needed
        self.chosen = chosen          # the dialog the call lives on, or None
        self.acks = {}                # To tag -> (ACK bytes, addr) for 2xx retransmissions
        self.cancelled = False
        if chosen is not None and chosen_ack is not None:
            self.acks[chosen.remote_tag] = chosen_ack

    def cancel(self, tx):
        """Send the CANCEL (only after a provisional, §9.1) and bound the
        INVITE's life: it ends 64*T1 from now whatever the peer does."""
        if self.cancelled or self.invite is None:
            return
        self.cancelled = True
        req = mirror_request(self.invite, "CANCEL", self.invite.get("to"))
        self.mgr.ua.layer.start_client(req, tx.addr, self.mgr.orphan_tu)

    def on_response(self, tx, resp):
        status = resp.status
        if status < 200:
            if self.chosen is None:
                self.cancel(tx)
            return
        if status >= 300:
            self.invite = None        # the transaction ACKs it; nothing left to cancel
            return
        tag = resp.to.tag
        again = self.acks.get(tag)
        if again is not None:
            tx.layer.send(again[0], again[1])       # a retransmitted 2xx: same ACK (§13.2.2.4)
            return
        if self.chosen is not None and tag == self.chosen.remote_tag:
            # our own dialog's 2xx that came after the call stopped waiting
            # (a re-INVITE given up): ACK it, and nothing more
            ack = ack_for_2xx(self.mgr, self.chosen, self.cseq)
            if ack is not None:
                self.acks[tag] = ack
            return
        if self.chosen is not None:
            dialog = self.chosen.fork(resp, self.cseq)
        else:
            dialog = Dialog.as_uac(self.invite, resp)
        ack = ack_for_2xx(self.mgr, dialog, self.cseq)
        if ack is not None and len(self.acks) < MAX_FORKS:
            self.acks[tag] = ack
        self.mgr.ua.log("info", "answer from %s for a call we do not keep: ACK and BYE" % (
            dialog.remote_target,))
        bye_dialog(self.mgr, dialog)

    def on_timeout(self, tx):
        pass
