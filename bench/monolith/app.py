"""The monolith a user would write instead of our services: the benchmark's peer (bench only).

Flask under gunicorn (sync workers), psycopg2 with one connection kept per worker, and the
purchase in the three steps of the original API, in one transaction: read the customer, read the
disc's stock, update it and insert the purchase. It is written as such an API usually is: the
stock is read, then written, without a lock, so it can oversell under concurrency (the issue
that asked for it measured stock -3 with 60 buyers of 15); the benchmark's discs never run out.

Run by bench/monolith/peer.py in its own virtual environment: gunicorn bench.monolith.app:app
"""

import os
import uuid

import psycopg2
from flask import Flask, jsonify, request

app = Flask(__name__)
_connection = None


def connection():
    """The worker's kept connection, opened after gunicorn forked the worker."""
    global _connection
    if _connection is None or _connection.closed:
        _connection = psycopg2.connect(os.environ["MONOLITH_DATABASE_URL"])
    return _connection


@app.post("/purchases")
def create_purchase():
    body = request.get_json(silent=True) or {}
    try:
        customer_id = str(uuid.UUID(body["customer_id"]))
        disc_id = str(uuid.UUID(body["disc_id"]))
        quantity = int(body.get("quantity", 1))
    except (KeyError, TypeError, ValueError):
        return jsonify(error="customer_id, disc_id and quantity are required"), 400
    if not 1 <= quantity <= 1000:
        return jsonify(error="quantity must be between 1 and 1000"), 400
    conn = connection()
    try:
        with conn, conn.cursor() as cursor:  # one transaction: committed on success, rolled back on error
            cursor.execute("SELECT ativo FROM monolith.clientes WHERE id = %s", (customer_id,))
            customer = cursor.fetchone()
            if customer is None or not customer[0]:
                return jsonify(error="customer not found or inactive"), 404
            cursor.execute("SELECT estoque, preco_cents FROM monolith.discos WHERE id = %s", (disc_id,))
            disc = cursor.fetchone()
            if disc is None:
                return jsonify(error="disc not found"), 404
            stock, price_cents = disc
            effective = stock >= quantity
            if effective:
                cursor.execute("UPDATE monolith.discos SET estoque = estoque - %s WHERE id = %s", (quantity, disc_id))
            cursor.execute(
                "INSERT INTO monolith.compras (cliente_id, disco_id, quantidade, total_cents, efetivada) "
                "VALUES (%s, %s, %s, %s, %s) RETURNING id, criada_em",
                (customer_id, disc_id, quantity, price_cents * quantity, effective))
            purchase_id, created = cursor.fetchone()
    except psycopg2.Error:
        conn.close()  # reopened by the next request
        raise
    return jsonify(id=purchase_id, customer_id=customer_id, disc_id=disc_id, quantity=quantity,
                   total_cents=str(price_cents * quantity), efetivada=effective,
                   created_at=created.isoformat()), 201
