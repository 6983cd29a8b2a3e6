"""One agent whose input, tool call and prompt carry personal data: for recording tests."""

from __future__ import annotations

import asyncio
import os
import sys

from agentmesh.agents import Context, Mesh, ScriptedModel, StepPolicy, agent, tool
from agentmesh.contracts import Contract
from agentmesh.core.policy import Policy

CARD = "4111111111111111"
EMAIL = "bob.smith@example.com"
EMAIL_PATTERN = r"[\w.+-]+@[\w-]+\.[\w.]+"


class Customer(Contract):
    email: str
    card: str


class Ticket(Contract):
    customer: Customer
    text: str


class LookupArgs(Contract):
    card: str


class Account(Contract):
    account: str
    owner: str


class Answer(Contract):
    text: str


@tool("lookup")
async def lookup(args: LookupArgs) -> Account:
    return Account(account=f"acct-{args.card}", owner="Bob")


@agent("intake", output=Answer, tools=[lookup])
async def intake(ticket: Ticket, ctx: Context) -> Answer:
    found = await ctx.tool("lookup", LookupArgs(card=ticket.customer.card))
    reply = await ctx.llm(
        f"Help {ticket.customer.email} ({found.owner}) with: {ticket.text}",
        system="Be brief.",
        prompt_name="help",
        prompt_version="v2",
    )
    if "slow" in ticket.text:
        # A crash window after the paid calls, for the kill -9 test (which cannot see this
        # moment on Kafka: the step's open transaction holds back what a reader may see).
        sys.stdout.write(f"step {ctx.envelope.handoff_id} paid, sleeping\n")
        sys.stdout.flush()
        await asyncio.sleep(float(os.environ.get("RECORDED_DELAY_S", "0")))
    return Answer(text=reply.text)


class Bulk(Contract):
    size: int


class Blob(Contract):
    text: str


@tool("fill")
async def fill(args: Bulk) -> Blob:
    return Blob(text="x" * args.size)


@agent("bulky", output=Answer, tools=[fill])
async def bulky(bulk: Bulk, ctx: Context) -> Answer:
    blob = await ctx.tool("fill", bulk)
    return Answer(text=f"{len(blob.text)} characters")


@tool("charge")
async def charge(args: LookupArgs) -> Account:
    raise ValueError(f"card {args.card} declined for {EMAIL}")


@agent("charger", output=Answer, tools=[charge], policy=StepPolicy(attempts=1))
async def charger(ticket: Ticket, ctx: Context) -> Answer:
    await ctx.tool("charge", LookupArgs(card=ticket.customer.card))
    return Answer(text="charged")


mesh = Mesh([intake, bulky, charger], model=ScriptedModel(["Sure, done."], loop=True))

TICKET = Ticket(customer=Customer(email=EMAIL, card=CARD), text="my card was charged twice")


def redacting(mode: str = "full") -> Policy:
    """A policy recording in ``mode`` that keeps the card and the e-mail out of recordings."""
    return Policy.model_validate(
        {
            "recording": {
                "mode": mode,
                "redact": {
                    "paths": ["customer.card", "card", "account"],
                    "patterns": [EMAIL_PATTERN],
                },
            }
        }
    )
